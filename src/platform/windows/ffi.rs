//! The NT and Win32 calls of the Windows backend: all of its `unsafe` code.
//!
//! windows-sys declares the documented API. What it lacks — `NtSetSystemInformation`, the
//! information classes 80/81/130/155 and their structures — is declared here, mirroring System
//! Informer's phnt headers (`phnt/include/ntexapi.h`), with compile-time size checks for 64-bit
//! and 32-bit layouts.
//!
//! # References
//! - phnt `ntexapi.h`: SYSTEM_INFORMATION_CLASS, SYSTEM_MEMORY_LIST_COMMAND,
//!   SYSTEM_MEMORY_LIST_INFORMATION, SYSTEM_FILECACHE_INFORMATION, MEMORY_COMBINE_INFORMATION_EX,
//!   SYSTEM_BASIC_INFORMATION, NtSetSystemInformation, NtQuerySystemInformation
//! - [AdjustTokenPrivileges](https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-adjusttokenprivileges)
//! - [FlushFileBuffers](https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-flushfilebuffers)

use std::ffi::c_void;
use std::mem::size_of;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Wdk::System::SystemInformation::NtQuerySystemInformation;
use windows_sys::Wdk::System::SystemServices::RtlGetVersion;
use windows_sys::Win32::Foundation::{
    GetLastError, RtlNtStatusToDosError, ERROR_MORE_DATA, ERROR_NOT_ALL_ASSIGNED,
    ERROR_NO_MORE_FILES, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, LUID, NTSTATUS,
};
use windows_sys::Win32::Security::{
    AdjustTokenPrivileges, GetTokenInformation, LookupPrivilegeValueW, TokenElevation,
    LUID_AND_ATTRIBUTES, SE_PRIVILEGE_ENABLED, TOKEN_ADJUST_PRIVILEGES, TOKEN_ELEVATION,
    TOKEN_PRIVILEGES, TOKEN_QUERY,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FindFirstVolumeW, FindNextVolumeW, FindVolumeClose, FlushFileBuffers,
    GetVolumePathNamesForVolumeNameW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
};
use windows_sys::Win32::System::Console::{
    SetConsoleCtrlHandler, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
};
use windows_sys::Win32::System::ProcessStatus::{GetPerformanceInfo, PERFORMANCE_INFORMATION};
use windows_sys::Win32::System::SystemInformation::{
    GlobalMemoryStatusEx, MEMORYSTATUSEX, OSVERSIONINFOW,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, IsWow64Process, OpenProcessToken};

use super::api::{
    DocumentedMemory, MemoryListPages, NtApi, NtStatus, OsVersion, Privilege, PrivilegeError,
    PrivilegeState, SetRequest, VolumeFlush,
};

/// SYSTEM_INFORMATION_CLASS values memdefrag uses (phnt `ntexapi.h`).
mod class {
    pub const SYSTEM_BASIC_INFORMATION: i32 = 0;
    pub const SYSTEM_FILE_CACHE_INFORMATION: i32 = 21;
    pub const SYSTEM_MEMORY_LIST_INFORMATION: i32 = 80;
    pub const SYSTEM_FILE_CACHE_INFORMATION_EX: i32 = 81;
    pub const SYSTEM_COMBINE_PHYSICAL_MEMORY_INFORMATION: i32 = 130;
    pub const SYSTEM_REGISTRY_RECONCILIATION_INFORMATION: i32 = 155;
}

// NTSTATUS NtSetSystemInformation(SYSTEM_INFORMATION_CLASS, PVOID, ULONG) — phnt ntexapi.h.
// The buffer is declared mutable: class 130 writes PagesCombined back into it.
windows_link::link!("ntdll.dll" "system" fn NtSetSystemInformation(systeminformationclass : i32, systeminformation : *mut c_void, systeminformationlength : u32) -> NTSTATUS);

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
const _: () = assert!(size_of::<super::api::MemoryListCommand>() == 4);

/// The real NT and Win32 calls.
pub(crate) struct System;

/// Console control handler: on a close, log-off or shutdown, waits for the action in progress
/// (Windows ends the process once the handlers return, 5 s at most after the event), then lets
/// the next handler — the one that stops the watch loop — run.
unsafe extern "system" fn hold_close(ctrl_type: u32) -> windows_sys::core::BOOL {
    if matches!(
        ctrl_type,
        CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT
    ) {
        crate::watch::stop_and_wait_idle(std::time::Duration::from_millis(4500));
    }
    0 // FALSE: not handled here; the next handler sees the event too.
}

/// Puts [`hold_close`] first in the process's console control handlers.
///
/// # References
/// - [SetConsoleCtrlHandler](https://learn.microsoft.com/windows/console/setconsolectrlhandler)
pub(crate) fn hold_console_close() -> std::io::Result<()> {
    // SAFETY: `hold_close` is a valid handler routine for the life of the process; handlers
    // added later are called first, so it runs before the signal handler installed earlier.
    if unsafe { SetConsoleCtrlHandler(Some(hold_close), 1) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `size_of::<T>()` as the ULONG the APIs take.
fn ulong_size<T>() -> u32 {
    size_of::<T>() as u32
}

/// Calls NtQuerySystemInformation for a fixed-size structure.
fn query<T: Default>(class: i32) -> Result<T, NtStatus> {
    let mut info = T::default();
    let mut returned = 0u32;
    // SAFETY: `info` is a live, writable T of exactly the length passed; the kernel writes at
    // most that many bytes and `returned` is a valid out pointer.
    let status = unsafe {
        NtQuerySystemInformation(
            class,
            (&mut info as *mut T).cast::<c_void>(),
            ulong_size::<T>(),
            &mut returned,
        )
    };
    nt_result(status).map(|()| info)
}

/// Calls NtSetSystemInformation with `len` bytes at `buffer`.
///
/// # Safety
/// `buffer` must be null with `len` 0, or point to `len` readable and writable bytes laid out
/// as `class` expects.
unsafe fn set(class: i32, buffer: *mut c_void, len: u32) -> Result<(), NtStatus> {
    // SAFETY: guaranteed by the caller.
    nt_result(unsafe { NtSetSystemInformation(class, buffer, len) })
}

/// NT_SUCCESS: success and informational codes are not negative.
fn nt_result(status: NTSTATUS) -> Result<(), NtStatus> {
    if status >= 0 {
        Ok(())
    } else {
        Err(NtStatus(status))
    }
}

fn last_error() -> (u32, String) {
    // SAFETY: GetLastError only reads this thread's last-error value.
    let code = unsafe { GetLastError() };
    (code, win32_message(code))
}

/// The system's message for a Win32 error code (FormatMessageW, through std).
fn win32_message(code: u32) -> String {
    let text = std::io::Error::from_raw_os_error(code as i32).to_string();
    match text.rfind(" (os error") {
        Some(at) => text[..at].trim_end().to_owned(),
        None => text,
    }
}

/// A NUL-terminated UTF-16 copy of `s`.
fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The text of a NUL-terminated UTF-16 buffer.
fn from_wide(buf: &[u16]) -> String {
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf16_lossy(&buf[..end])
}

/// This process's token, opened with `access`; closed on drop.
fn process_token(access: u32) -> Result<OwnedHandle, (u32, String)> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing; `token` is a
    // valid out pointer.
    let ok = unsafe { OpenProcessToken(GetCurrentProcess(), access, &mut token) };
    if ok == 0 {
        return Err(last_error());
    }
    // SAFETY: OpenProcessToken succeeded, so `token` is an open handle that we now own.
    Ok(unsafe { OwnedHandle::from_raw_handle(token) })
}

/// Sets one privilege on or off; returns whether it was enabled before.
fn adjust(token: &OwnedHandle, privilege: Privilege, enable: bool) -> Result<bool, PrivilegeError> {
    let name = wide(privilege.name());
    let mut luid = LUID {
        LowPart: 0,
        HighPart: 0,
    };
    // SAFETY: `name` is NUL-terminated and outlives the call; `luid` is a valid out pointer.
    if unsafe { LookupPrivilegeValueW(std::ptr::null(), name.as_ptr(), &mut luid) } == 0 {
        let (code, msg) = last_error();
        return Err(PrivilegeError::Os(code, msg));
    }
    let new = TOKEN_PRIVILEGES {
        PrivilegeCount: 1,
        Privileges: [LUID_AND_ATTRIBUTES {
            Luid: luid,
            Attributes: if enable { SE_PRIVILEGE_ENABLED } else { 0 },
        }],
    };
    let mut previous = TOKEN_PRIVILEGES {
        PrivilegeCount: 0,
        Privileges: [LUID_AND_ATTRIBUTES {
            Luid: luid,
            Attributes: 0,
        }],
    };
    let mut returned = 0u32;
    // SAFETY: the token is open with TOKEN_ADJUST_PRIVILEGES; `new` and `previous` are live
    // TOKEN_PRIVILEGES with room for the one privilege changed, of the size passed.
    let ok = unsafe {
        AdjustTokenPrivileges(
            token.as_raw_handle(),
            0,
            &new,
            ulong_size::<TOKEN_PRIVILEGES>(),
            &mut previous,
            &mut returned,
        )
    };
    // AdjustTokenPrivileges succeeds even when it granted nothing; the last error tells.
    let (code, msg) = last_error();
    if ok == 0 {
        return Err(PrivilegeError::Os(code, msg));
    }
    if code == ERROR_NOT_ALL_ASSIGNED {
        return Err(PrivilegeError::NotAssigned(privilege));
    }
    // PreviousState lists the privilege only if its state changed.
    Ok(previous.PrivilegeCount == 0
        || previous.Privileges[0].Attributes & SE_PRIVILEGE_ENABLED != 0)
}

fn restore(token: &OwnedHandle, state: &PrivilegeState) {
    for &(privilege, was_enabled) in state.iter().rev() {
        if !was_enabled {
            // Nothing more can be done if putting it back fails; the process ends soon after.
            let _ = adjust(token, privilege, false);
        }
    }
}

/// A volume search handle from FindFirstVolumeW, closed on drop.
struct VolumeSearch(HANDLE);

impl Drop for VolumeSearch {
    fn drop(&mut self) {
        // SAFETY: the handle came from a successful FindFirstVolumeW and is closed only here.
        unsafe { FindVolumeClose(self.0) };
    }
}

/// Room for a volume GUID path (`\\?\Volume{GUID}\`, 49 characters) with margin.
const VOLUME_NAME_LEN: usize = 64;

/// Where the volume `name` (with its trailing backslash) is mounted: drive letters and folders.
fn mount_points(name: &[u16]) -> Vec<String> {
    let mut buf = vec![0u16; 1024];
    loop {
        let mut needed = 0u32;
        // SAFETY: `name` is NUL-terminated; `buf` has the length passed; `needed` is valid.
        let ok = unsafe {
            GetVolumePathNamesForVolumeNameW(
                name.as_ptr(),
                buf.as_mut_ptr(),
                buf.len() as u32,
                &mut needed,
            )
        };
        if ok != 0 {
            break;
        }
        // SAFETY: GetLastError only reads this thread's last-error value.
        if unsafe { GetLastError() } != ERROR_MORE_DATA || needed as usize <= buf.len() {
            return Vec::new();
        }
        buf.resize(needed as usize, 0);
    }
    // A list of NUL-terminated strings ending with an empty one.
    buf.split(|&c| c == 0)
        .take_while(|s| !s.is_empty())
        .map(String::from_utf16_lossy)
        .collect()
}

/// Opens the volume `name` (`\\?\Volume{GUID}\`) for writing and flushes its buffers.
fn flush_volume(name: &[u16]) -> Result<(), (u32, String)> {
    // The device path is the name without its trailing backslash (with it, the root folder).
    let mut device: Vec<u16> = name.iter().copied().take_while(|&c| c != 0).collect();
    if device.last() == Some(&u16::from(b'\\')) {
        device.pop();
    }
    device.push(0);
    // SAFETY: `device` is NUL-terminated and outlives the call; no security attributes or
    // template are passed.
    let handle = unsafe {
        CreateFileW(
            device.as_ptr(),
            GENERIC_WRITE,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    // SAFETY: CreateFileW succeeded, so `handle` is an open handle that we now own.
    let volume = unsafe { OwnedHandle::from_raw_handle(handle) };
    // SAFETY: `volume` is open with GENERIC_WRITE, as FlushFileBuffers requires.
    if unsafe { FlushFileBuffers(volume.as_raw_handle()) } == 0 {
        return Err(last_error());
    }
    Ok(())
}

impl NtApi for System {
    fn version(&self) -> OsVersion {
        // SAFETY: OSVERSIONINFOW is plain data; all-zero is a valid value.
        let mut info: OSVERSIONINFOW = unsafe { std::mem::zeroed() };
        info.dwOSVersionInfoSize = ulong_size::<OSVERSIONINFOW>();
        // SAFETY: `info` is a live OSVERSIONINFOW with its size field set, as RtlGetVersion
        // requires; it always succeeds for this structure.
        unsafe { RtlGetVersion(&mut info) };
        OsVersion {
            major: info.dwMajorVersion,
            minor: info.dwMinorVersion,
            build: info.dwBuildNumber,
        }
    }

    fn is_wow64(&self) -> bool {
        let mut wow64 = 0;
        // SAFETY: the current-process pseudo-handle and a valid out pointer.
        let ok = unsafe { IsWow64Process(GetCurrentProcess(), &mut wow64) };
        ok != 0 && wow64 != 0
    }

    fn is_elevated(&self) -> bool {
        let Ok(token) = process_token(TOKEN_QUERY) else {
            return false;
        };
        let mut elevation = TOKEN_ELEVATION { TokenIsElevated: 0 };
        let mut returned = 0u32;
        // SAFETY: the token is open with TOKEN_QUERY; `elevation` has the size passed.
        let ok = unsafe {
            GetTokenInformation(
                token.as_raw_handle(),
                TokenElevation,
                (&mut elevation as *mut TOKEN_ELEVATION).cast(),
                ulong_size::<TOKEN_ELEVATION>(),
                &mut returned,
            )
        };
        ok != 0 && elevation.TokenIsElevated != 0
    }

    fn enable_privileges(
        &self,
        privileges: &[Privilege],
    ) -> Result<PrivilegeState, PrivilegeError> {
        let token = process_token(TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY)
            .map_err(|(code, msg)| PrivilegeError::Os(code, msg))?;
        let mut state = PrivilegeState::new();
        for &privilege in privileges {
            match adjust(&token, privilege, true) {
                Ok(was_enabled) => state.push((privilege, was_enabled)),
                Err(e) => {
                    restore(&token, &state);
                    return Err(e);
                }
            }
        }
        Ok(state)
    }

    fn restore_privileges(&self, state: &PrivilegeState) {
        if let Ok(token) = process_token(TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY) {
            restore(&token, state);
        }
    }

    fn set_information(&self, request: SetRequest) -> Result<u64, NtStatus> {
        match request {
            SetRequest::MemoryList(command) => {
                let mut command = command as i32;
                // SAFETY: a 4-byte SYSTEM_MEMORY_LIST_COMMAND, as class 80 takes.
                unsafe {
                    set(
                        class::SYSTEM_MEMORY_LIST_INFORMATION,
                        (&mut command as *mut i32).cast(),
                        4,
                    )
                }?;
                Ok(0)
            }
            SetRequest::TrimFileCache => {
                let mut info = SystemFileCacheInformation {
                    minimum_working_set: usize::MAX,
                    maximum_working_set: usize::MAX,
                    ..SystemFileCacheInformation::default()
                };
                // SAFETY: a live SYSTEM_FILECACHE_INFORMATION of the size passed.
                unsafe {
                    set(
                        class::SYSTEM_FILE_CACHE_INFORMATION_EX,
                        (&mut info as *mut SystemFileCacheInformation).cast(),
                        ulong_size::<SystemFileCacheInformation>(),
                    )
                }?;
                Ok(0)
            }
            SetRequest::CombinePages => {
                let mut info = MemoryCombineInformationEx {
                    handle: std::ptr::null_mut(),
                    pages_combined: 0,
                    flags: 0,
                };
                // SAFETY: a live, zeroed MEMORY_COMBINE_INFORMATION_EX of the size passed; the
                // kernel writes PagesCombined into it.
                unsafe {
                    set(
                        class::SYSTEM_COMBINE_PHYSICAL_MEMORY_INFORMATION,
                        (&mut info as *mut MemoryCombineInformationEx).cast(),
                        ulong_size::<MemoryCombineInformationEx>(),
                    )
                }?;
                Ok(info.pages_combined as u64)
            }
            SetRequest::ReconcileRegistry => {
                // SAFETY: class 155 takes no buffer: null with length 0.
                unsafe {
                    set(
                        class::SYSTEM_REGISTRY_RECONCILIATION_INFORMATION,
                        std::ptr::null_mut(),
                        0,
                    )
                }?;
                Ok(0)
            }
        }
    }

    fn status_message(&self, status: NtStatus) -> (u32, String) {
        // SAFETY: RtlNtStatusToDosError takes any value; it only looks the code up (and records
        // the status as the thread's last status).
        let code = unsafe { RtlNtStatusToDosError(status.0) };
        (code, win32_message(code))
    }

    fn memory_lists(&self) -> Result<MemoryListPages, NtStatus> {
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

    fn page_size(&self) -> Result<u64, NtStatus> {
        let info: SystemBasicInformation = query(class::SYSTEM_BASIC_INFORMATION)?;
        Ok(info.page_size.into())
    }

    fn file_cache_size(&self) -> Result<u64, NtStatus> {
        let info: SystemFileCacheInformation = query(class::SYSTEM_FILE_CACHE_INFORMATION)?;
        Ok(info.current_size as u64)
    }

    fn documented_memory(&self) -> Result<DocumentedMemory, (u32, String)> {
        // SAFETY: MEMORYSTATUSEX is plain data; all-zero is a valid value.
        let mut status: MEMORYSTATUSEX = unsafe { std::mem::zeroed() };
        status.dwLength = ulong_size::<MEMORYSTATUSEX>();
        // SAFETY: a live MEMORYSTATUSEX with dwLength set, as the call requires.
        if unsafe { GlobalMemoryStatusEx(&mut status) } == 0 {
            return Err(last_error());
        }
        // SAFETY: PERFORMANCE_INFORMATION is plain data; all-zero is a valid value.
        let mut perf: PERFORMANCE_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: a live PERFORMANCE_INFORMATION of the size passed.
        if unsafe { GetPerformanceInfo(&mut perf, ulong_size::<PERFORMANCE_INFORMATION>()) } == 0 {
            return Err(last_error());
        }
        let page = perf.PageSize as u64;
        Ok(DocumentedMemory {
            total: status.ullTotalPhys,
            available: status.ullAvailPhys,
            commit_total: (perf.CommitTotal as u64).saturating_mul(page),
            commit_limit: (perf.CommitLimit as u64).saturating_mul(page),
            system_cache: (perf.SystemCache as u64).saturating_mul(page),
            page_size: page,
        })
    }

    fn flush_volumes(&self) -> Result<Vec<VolumeFlush>, (u32, String)> {
        let mut name = [0u16; VOLUME_NAME_LEN];
        // SAFETY: `name` has the length passed.
        let handle = unsafe { FindFirstVolumeW(name.as_mut_ptr(), name.len() as u32) };
        if handle == INVALID_HANDLE_VALUE {
            return Err(last_error());
        }
        let search = VolumeSearch(handle);
        let mut volumes = Vec::new();
        loop {
            volumes.push(VolumeFlush {
                volume: from_wide(&name),
                mount_points: mount_points(&name),
                error: flush_volume(&name).err(),
            });
            // SAFETY: `search` holds an open volume search; `name` has the length passed.
            if unsafe { FindNextVolumeW(search.0, name.as_mut_ptr(), name.len() as u32) } == 0 {
                let (code, msg) = last_error();
                if code != ERROR_NO_MORE_FILES {
                    // Keep what was flushed; say where the enumeration stopped.
                    volumes.push(VolumeFlush {
                        volume: "(the rest: FindNextVolumeW failed)".into(),
                        mount_points: Vec::new(),
                        error: Some((code, msg)),
                    });
                }
                break;
            }
        }
        Ok(volumes)
    }
}

/// The real calls, run wherever the tests run: on Windows, or under Wine (whose
/// NtSetSystemInformation is a stub and whose memory-list query fails).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::windows::api::MemoryListCommand;

    #[test]
    fn version_is_real() {
        let v = System.version();
        assert!(v.major >= 6, "{v}");
        assert!(v.build > 0, "{v}");
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_64_bit_build_is_not_wow64() {
        assert!(!System.is_wow64());
    }

    /// The token is process-wide: tests that change it take turns.
    static TOKEN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn under_wine() -> bool {
        std::env::var_os("MEMDEFRAG_TEST_WINE_VERSION").is_some()
    }

    #[test]
    fn privileges_are_enabled_and_restored() {
        let _token = TOKEN.lock().unwrap_or_else(|e| e.into_inner());
        let privileges = [Privilege::ProfileSingleProcess, Privilege::IncreaseQuota];
        match System.enable_privileges(&privileges) {
            Ok(state) => {
                assert_eq!(state.iter().map(|s| s.0).collect::<Vec<_>>(), privileges);
                System.restore_privileges(&state);
                // Enabling again reports the same earlier state: the restore took effect.
                let again = System.enable_privileges(&privileges).unwrap();
                assert_eq!(again, state);
                System.restore_privileges(&again);
            }
            Err(PrivilegeError::NotAssigned(p)) => {
                assert!(!System.is_elevated(), "elevated but {} missing", p.name())
            }
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn documented_memory_is_plausible() {
        let m = System.documented_memory().unwrap();
        assert!(m.total > 0 && m.available <= m.total, "{m:?}");
        assert!(m.page_size >= 4096, "{m:?}");
        assert!(m.commit_total <= m.commit_limit, "{m:?}");
        assert_eq!(System.page_size().unwrap_or(m.page_size), m.page_size);
    }

    #[test]
    fn the_list_query_answers_or_fails_cleanly() {
        let _token = TOKEN.lock().unwrap_or_else(|e| e.into_inner());
        let enabled = System.enable_privileges(&[Privilege::ProfileSingleProcess]);
        let result = System.memory_lists();
        if let Ok(state) = &enabled {
            System.restore_privileges(state);
        }
        match result {
            Ok(lists) => {
                // The layout is right if the lists add up to no more than physical memory.
                let page = System.page_size().unwrap();
                let total = System.documented_memory().unwrap().total / page;
                let standby: u64 = lists.standby_by_priority.iter().sum();
                let listed = lists.zeroed + lists.free + lists.modified + standby;
                assert!(listed > 0 && listed <= total, "{lists:?} of {total} pages");
            }
            Err(status) => {
                assert!(
                    under_wine() || enabled.is_err(),
                    "elevated, yet the query failed: {status}"
                );
                let (code, message) = System.status_message(status);
                assert!(
                    code != 0 && !message.is_empty(),
                    "{status}: {code} {message}"
                );
            }
        }
    }

    #[test]
    fn status_messages_come_from_the_system() {
        let (code, message) = System.status_message(NtStatus::PRIVILEGE_NOT_HELD);
        assert_eq!(code, 1314); // ERROR_PRIVILEGE_NOT_HELD
        assert!(
            !message.is_empty() && !message.contains("os error"),
            "{message}"
        );
    }

    #[test]
    fn a_memory_list_command_reaches_the_kernel() {
        let _token = TOKEN.lock().unwrap_or_else(|e| e.into_inner());
        // Under Wine this returns success without effect; on Windows it needs elevation.
        let enabled = System.enable_privileges(&[Privilege::ProfileSingleProcess]);
        let result = System.set_information(SetRequest::MemoryList(
            MemoryListCommand::PurgeLowPriorityStandbyList,
        ));
        match enabled {
            Ok(state) => {
                assert_eq!(result, Ok(0));
                System.restore_privileges(&state);
            }
            Err(_) => assert_eq!(result, Err(NtStatus::PRIVILEGE_NOT_HELD)),
        }
    }

    #[test]
    fn wide_strings_round_trip() {
        let w = wide(r"\\?\Volume{1}\");
        assert_eq!(w.last(), Some(&0));
        assert_eq!(from_wide(&w), r"\\?\Volume{1}\");
    }
}
