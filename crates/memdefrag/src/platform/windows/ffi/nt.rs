//! `NtQuerySystemInformation` and `NtSetSystemInformation`: the information classes memdefrag
//! uses and the structures they take.
//!
//! windows-sys declares `NtQuerySystemInformation` but not `NtSetSystemInformation`, the classes
//! 80/81/130/155 or their structures: those are declared here, mirroring System Informer's phnt
//! headers, with compile-time size checks for the 64-bit and 32-bit layouts.
//!
//! # References
//! - phnt `ntexapi.h`: SYSTEM_INFORMATION_CLASS, SYSTEM_MEMORY_LIST_COMMAND,
//!   SYSTEM_MEMORY_LIST_INFORMATION, SYSTEM_FILECACHE_INFORMATION, MEMORY_COMBINE_INFORMATION_EX,
//!   SYSTEM_BASIC_INFORMATION, NtSetSystemInformation, NtQuerySystemInformation
//! - [RtlNtStatusToDosError](https://learn.microsoft.com/windows/win32/api/winternl/nf-winternl-rtlntstatustodoserror)

use std::ffi::c_void;
use std::mem::size_of;

use windows_sys::Wdk::System::SystemInformation::NtQuerySystemInformation;
use windows_sys::Win32::Foundation::{RtlNtStatusToDosError, HANDLE, NTSTATUS};

use super::text::win32_message;
use crate::platform::windows::api::{MemoryListCommand, MemoryListPages, NtStatus, SetRequest};

/// SYSTEM_INFORMATION_CLASS values memdefrag uses (phnt `ntexapi.h`).
mod class {
    pub(super) const SYSTEM_BASIC_INFORMATION: i32 = 0;
    pub(super) const SYSTEM_FILE_CACHE_INFORMATION: i32 = 21;
    pub(super) const SYSTEM_MEMORY_LIST_INFORMATION: i32 = 80;
    pub(super) const SYSTEM_FILE_CACHE_INFORMATION_EX: i32 = 81;
    pub(super) const SYSTEM_COMBINE_PHYSICAL_MEMORY_INFORMATION: i32 = 130;
    pub(super) const SYSTEM_REGISTRY_RECONCILIATION_INFORMATION: i32 = 155;
}

// NTSTATUS NtSetSystemInformation(SYSTEM_INFORMATION_CLASS, PVOID, ULONG) — phnt ntexapi.h.
// The buffer is declared mutable: class 130 writes PagesCombined back into it.
windows_link::link!("ntdll.dll" "system" fn NtSetSystemInformation(systeminformationclass : i32, systeminformation : *mut c_void, systeminformationlength : u32) -> NTSTATUS);

/// A structure the kernel may fill or read as raw bytes.
///
/// # Safety
/// The type must be `#[repr(C)]` (or a primitive integer), hold no references, and be valid for
/// any bit pattern the kernel writes into it: integers, arrays of integers and raw handles.
unsafe trait PlainData: Default {}

/// SYSTEM_MEMORY_LIST_INFORMATION (phnt `ntexapi.h`): page counts of each memory list.
#[repr(C)]
#[derive(Default)]
#[allow(dead_code)] // the whole C layout, whether read or not
struct SystemMemoryListInformation {
    zero_page_count: usize,
    free_page_count: usize,
    modified_page_count: usize,
    modified_no_write_page_count: usize,
    bad_page_count: usize,
    page_count_by_priority: [usize; 8],
    repurposed_pages_by_priority: [usize; 8],
    modified_page_count_page_file: usize,
}

/// SYSTEM_FILECACHE_INFORMATION (phnt `ntexapi.h`).
#[repr(C)]
#[derive(Default)]
#[allow(dead_code)] // the whole C layout, whether read or not
struct SystemFileCacheInformation {
    current_size: usize,
    peak_size: usize,
    page_fault_count: u32,
    minimum_working_set: usize,
    maximum_working_set: usize,
    current_size_including_transition_in_pages: usize,
    peak_size_including_transition_in_pages: usize,
    transition_re_purpose_count: u32,
    flags: u32,
}

/// MEMORY_COMBINE_INFORMATION_EX (phnt `ntexapi.h`).
#[repr(C)]
#[allow(dead_code)] // the whole C layout, whether read or not
struct MemoryCombineInformationEx {
    handle: HANDLE,
    pages_combined: usize,
    flags: u32,
}

impl Default for MemoryCombineInformationEx {
    fn default() -> Self {
        MemoryCombineInformationEx {
            handle: std::ptr::null_mut(),
            pages_combined: 0,
            flags: 0,
        }
    }
}

/// SYSTEM_BASIC_INFORMATION (phnt `ntexapi.h`; windows-sys has only winternl's opaque one).
#[repr(C)]
#[derive(Default)]
#[allow(dead_code)] // the whole C layout, whether read or not
struct SystemBasicInformation {
    reserved: u32,
    timer_resolution: u32,
    page_size: u32,
    number_of_physical_pages: u32,
    lowest_physical_page_number: u32,
    highest_physical_page_number: u32,
    allocation_granularity: u32,
    minimum_user_mode_address: usize,
    maximum_user_mode_address: usize,
    active_processors_affinity_mask: usize,
    number_of_processors: i8,
}

// SAFETY: each is #[repr(C)] and made of integers, integer arrays and a raw handle only; every
// bit pattern is a valid value of each.
unsafe impl PlainData for SystemMemoryListInformation {}
// SAFETY: as above.
unsafe impl PlainData for SystemFileCacheInformation {}
// SAFETY: as above.
unsafe impl PlainData for MemoryCombineInformationEx {}
// SAFETY: as above.
unsafe impl PlainData for SystemBasicInformation {}
// SAFETY: SYSTEM_MEMORY_LIST_COMMAND is a C enum passed as a 4-byte integer; any value is valid.
unsafe impl PlainData for i32 {}

/// The size of a structure on 64-bit and on 32-bit Windows.
const fn per_width(bits64: usize, bits32: usize) -> usize {
    if cfg!(target_pointer_width = "64") {
        bits64
    } else {
        bits32
    }
}

const _: () = assert!(size_of::<SystemMemoryListInformation>() == per_width(176, 88));
const _: () = assert!(size_of::<SystemFileCacheInformation>() == per_width(0x40, 0x24));
const _: () = assert!(size_of::<MemoryCombineInformationEx>() == per_width(24, 12));
const _: () = assert!(size_of::<SystemBasicInformation>() == per_width(64, 44));
// SYSTEM_MEMORY_LIST_COMMAND is a C enum: 4 bytes, whatever the pointer width.
const _: () = assert!(size_of::<MemoryListCommand>() == 4);

/// `size_of::<T>()` as the ULONG the APIs take.
pub(super) fn ulong_size<T>() -> u32 {
    // Every structure here is a few hundred bytes at most.
    size_of::<T>() as u32
}

/// NtQuerySystemInformation of `class` into a fresh `T`.
fn query<T: PlainData>(class: i32) -> Result<T, NtStatus> {
    let mut info = T::default();
    let mut returned = 0u32;
    // SAFETY: `info` is a live, writable T of exactly the length passed; the kernel writes at
    // most that many bytes, and any bytes it writes make a valid T (`PlainData`). `returned` is a
    // valid out pointer.
    let status = unsafe {
        NtQuerySystemInformation(
            class,
            std::ptr::from_mut(&mut info).cast::<c_void>(),
            ulong_size::<T>(),
            &raw mut returned,
        )
    };
    nt_result(status).map(|()| info)
}

/// NtSetSystemInformation of `class` with `info`, which the kernel may write back into.
fn set<T: PlainData>(class: i32, info: &mut T) -> Result<(), NtStatus> {
    // SAFETY: `info` is a live, readable and writable T of exactly the length passed, and any
    // bytes the kernel writes back make a valid T (`PlainData`).
    let status = unsafe {
        NtSetSystemInformation(
            class,
            std::ptr::from_mut(info).cast::<c_void>(),
            ulong_size::<T>(),
        )
    };
    nt_result(status)
}

/// NtSetSystemInformation of a `class` that takes no buffer.
fn set_without_buffer(class: i32) -> Result<(), NtStatus> {
    // SAFETY: a null buffer with length 0: the kernel reads and writes nothing of ours.
    nt_result(unsafe { NtSetSystemInformation(class, std::ptr::null_mut(), 0) })
}

/// NT_SUCCESS: success and informational codes are not negative.
fn nt_result(status: NTSTATUS) -> Result<(), NtStatus> {
    if status >= 0 {
        Ok(())
    } else {
        Err(NtStatus(status))
    }
}

/// Carries out one NtSetSystemInformation request; returns the pages combined for
/// `CombinePages`, else 0.
pub(super) fn set_information(request: SetRequest) -> Result<u64, NtStatus> {
    match request {
        SetRequest::MemoryList(command) => {
            set(class::SYSTEM_MEMORY_LIST_INFORMATION, &mut (command as i32))?;
            Ok(0)
        }
        SetRequest::TrimFileCache => {
            let mut info = SystemFileCacheInformation {
                minimum_working_set: usize::MAX,
                maximum_working_set: usize::MAX,
                ..SystemFileCacheInformation::default()
            };
            set(class::SYSTEM_FILE_CACHE_INFORMATION_EX, &mut info)?;
            Ok(0)
        }
        SetRequest::CombinePages => {
            let mut info = MemoryCombineInformationEx::default();
            set(class::SYSTEM_COMBINE_PHYSICAL_MEMORY_INFORMATION, &mut info)?;
            Ok(info.pages_combined as u64)
        }
        SetRequest::ReconcileRegistry => {
            set_without_buffer(class::SYSTEM_REGISTRY_RECONCILIATION_INFORMATION)?;
            Ok(0)
        }
    }
}

/// RtlNtStatusToDosError, and the system's message for that Win32 code.
pub(super) fn status_message(status: NtStatus) -> (u32, String) {
    // SAFETY: RtlNtStatusToDosError takes any value; it only looks the code up (and records the
    // status as the thread's last status).
    let code = unsafe { RtlNtStatusToDosError(status.0) };
    (code, win32_message(code))
}

/// The memory lists (SystemMemoryListInformation), in pages.
pub(super) fn memory_lists() -> Result<MemoryListPages, NtStatus> {
    let info: SystemMemoryListInformation = query(class::SYSTEM_MEMORY_LIST_INFORMATION)?;
    let pages = |n: usize| n as u64;
    Ok(MemoryListPages {
        zeroed: pages(info.zero_page_count),
        free: pages(info.free_page_count),
        modified: pages(info.modified_page_count),
        modified_no_write: pages(info.modified_no_write_page_count),
        bad: pages(info.bad_page_count),
        standby_by_priority: info.page_count_by_priority.map(pages),
        repurposed_by_priority: info.repurposed_pages_by_priority.map(pages),
        modified_page_file: pages(info.modified_page_count_page_file),
    })
}

/// The page size (SystemBasicInformation), asked once: it never changes.
pub(super) fn page_size() -> Result<u64, NtStatus> {
    static PAGE_SIZE: std::sync::OnceLock<Result<u64, NtStatus>> = std::sync::OnceLock::new();
    *PAGE_SIZE.get_or_init(|| {
        let info: SystemBasicInformation = query(class::SYSTEM_BASIC_INFORMATION)?;
        Ok(info.page_size.into())
    })
}

/// The system file cache working set (SystemFileCacheInformation), in bytes.
pub(super) fn file_cache_size() -> Result<u64, NtStatus> {
    let info: SystemFileCacheInformation = query(class::SYSTEM_FILE_CACHE_INFORMATION)?;
    Ok(info.current_size as u64)
}
