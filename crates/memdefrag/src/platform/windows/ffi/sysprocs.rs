//! The system's process list with each process's memory figures, read with
//! `NtQuerySystemInformation(SystemProcessInformation)`: no handle to any process is opened, so
//! it also reads processes this one may not open (the WSL 2 VM's `VmmemWSL` is a minimal
//! process that refuses even PROCESS_QUERY_LIMITED_INFORMATION to most callers).
//!
//! # References
//! - phnt `ntexapi.h`: SYSTEM_PROCESS_INFORMATION, SYSTEM_INFORMATION_CLASS
//!   (SystemProcessInformation = 5)
//! - [NtQuerySystemInformation](https://learn.microsoft.com/windows/win32/api/winternl/nf-winternl-ntquerysysteminformation)
//!   (winternl.h's SYSTEM_PROCESS_INFORMATION is the same layout with reserved fields)

use std::ffi::c_void;
use std::mem::{offset_of, size_of};

use windows_sys::Wdk::System::SystemInformation::NtQuerySystemInformation;
use windows_sys::Win32::Foundation::{HANDLE, STATUS_INFO_LENGTH_MISMATCH};

use crate::platform::windows::api::{NtStatus, ProcessMemory};

/// SystemProcessInformation (phnt `ntexapi.h`).
const SYSTEM_PROCESS_INFORMATION: i32 = 5;

/// UNICODE_STRING (phnt `ntdef.h`): lengths in bytes, without a terminating NUL.
#[repr(C)]
#[allow(dead_code)] // the whole C layout, whether read or not
struct UnicodeString {
    length: u16,
    maximum_length: u16,
    buffer: *const u16,
}

/// SYSTEM_PROCESS_INFORMATION (phnt `ntexapi.h`), without the trailing array of
/// SYSTEM_THREAD_INFORMATION (one per thread, which memdefrag does not read).
#[repr(C)]
#[allow(dead_code)] // the whole C layout, whether read or not
struct SystemProcessInformation {
    next_entry_offset: u32,
    number_of_threads: u32,
    working_set_private_size: i64,
    hard_fault_count: u32,
    number_of_threads_high_watermark: u32,
    cycle_time: u64,
    create_time: i64,
    /// In 100 ns units.
    user_time: i64,
    /// In 100 ns units.
    kernel_time: i64,
    image_name: UnicodeString,
    base_priority: i32,
    unique_process_id: HANDLE,
    inherited_from_unique_process_id: HANDLE,
    handle_count: u32,
    session_id: u32,
    unique_process_key: usize,
    peak_virtual_size: usize,
    virtual_size: usize,
    page_fault_count: u32,
    peak_working_set_size: usize,
    working_set_size: usize,
    quota_peak_paged_pool_usage: usize,
    quota_paged_pool_usage: usize,
    quota_peak_non_paged_pool_usage: usize,
    quota_non_paged_pool_usage: usize,
    pagefile_usage: usize,
    peak_pagefile_usage: usize,
    private_page_count: usize,
    read_operation_count: i64,
    write_operation_count: i64,
    other_operation_count: i64,
    read_transfer_count: i64,
    write_transfer_count: i64,
    other_transfer_count: i64,
}

/// The size of a structure on 64-bit and on 32-bit Windows.
const fn per_width(bits64: usize, bits32: usize) -> usize {
    if cfg!(target_pointer_width = "64") {
        bits64
    } else {
        bits32
    }
}

const _: () = assert!(size_of::<UnicodeString>() == per_width(16, 8));
const _: () = assert!(size_of::<SystemProcessInformation>() == per_width(0x100, 0xB8));
const _: () = assert!(offset_of!(SystemProcessInformation, image_name) == per_width(0x38, 0x38));
const _: () =
    assert!(offset_of!(SystemProcessInformation, working_set_size) == per_width(0x90, 0x68));
const _: () =
    assert!(offset_of!(SystemProcessInformation, private_page_count) == per_width(0xC8, 0x84));

/// The list is a few hundred bytes per process and thread; it grows between two calls, so the
/// buffer is retried larger a few times.
const ATTEMPTS: usize = 8;

/// Every process with its memory figures.
pub(super) fn list() -> Result<Vec<ProcessMemory>, NtStatus> {
    // u64 elements: the entries are 8-byte aligned within an 8-byte aligned buffer.
    let mut buffer: Vec<u64> = vec![0; 64 * 1024];
    for _ in 0..ATTEMPTS {
        let bytes = buffer.len() * size_of::<u64>();
        let mut returned = 0u32;
        // SAFETY: the buffer is live, writable and `bytes` long; the kernel writes at most that
        // many bytes and reports the size it needs in `returned`, a valid out pointer.
        let status = unsafe {
            NtQuerySystemInformation(
                SYSTEM_PROCESS_INFORMATION,
                buffer.as_mut_ptr().cast::<c_void>(),
                u32::try_from(bytes).unwrap_or(u32::MAX),
                &raw mut returned,
            )
        };
        if status == STATUS_INFO_LENGTH_MISMATCH {
            let needed = (returned as usize).max(bytes * 2) + 64 * 1024;
            buffer = vec![0; needed.div_ceil(size_of::<u64>())];
            continue;
        }
        if status < 0 {
            return Err(NtStatus(status));
        }
        return Ok(parse(&buffer, (returned as usize).min(bytes)));
    }
    Err(NtStatus(STATUS_INFO_LENGTH_MISMATCH))
}

/// The entries in the first `len` bytes of `buffer`, as the kernel chained them.
fn parse(buffer: &[u64], len: usize) -> Vec<ProcessMemory> {
    let base = buffer.as_ptr().cast::<u8>();
    let mut processes = Vec::new();
    let mut offset = 0usize;
    while offset + size_of::<SystemProcessInformation>() <= len {
        // SAFETY: the entry lies within the first `len` bytes of the buffer (checked above);
        // it is read unaligned, and every bit pattern is a valid SystemProcessInformation
        // (integers and raw pointers only).
        let entry = unsafe {
            base.add(offset)
                .cast::<SystemProcessInformation>()
                .read_unaligned()
        };
        processes.push(ProcessMemory {
            pid: entry.unique_process_id as usize as u32,
            name: image_name(buffer, len, &entry.image_name),
            working_set_bytes: entry.working_set_size as u64,
            // PrivatePageCount and PagefileUsage both count the process's private committed
            // bytes (its "Commit size" in Task Manager); Wine fills only the second.
            private_bytes: if entry.private_page_count != 0 {
                entry.private_page_count as u64
            } else {
                entry.pagefile_usage as u64
            },
            cpu_time_100ns: u64::try_from(entry.user_time.saturating_add(entry.kernel_time))
                .unwrap_or(0),
        });
        if entry.next_entry_offset == 0 {
            break;
        }
        offset += entry.next_entry_offset as usize;
    }
    processes
}

/// An entry's image name, if its buffer lies within the returned list (the System Idle Process
/// has none).
fn image_name(buffer: &[u64], len: usize, name: &UnicodeString) -> String {
    let start = buffer.as_ptr() as usize;
    let at = name.buffer as usize;
    let chars = usize::from(name.length) / 2;
    if name.buffer.is_null() || at < start || at + chars * 2 > start + len || !at.is_multiple_of(2)
    {
        return String::new();
    }
    // SAFETY: the name's characters lie within the initialized, live buffer (checked above),
    // at an even address; u16 has no invalid bit patterns.
    let text = unsafe { std::slice::from_raw_parts(name.buffer, chars) };
    String::from_utf16_lossy(text)
}
