//! The running processes, and emptying one process's working set.
//!
//! # References
//! - [CreateToolhelp32Snapshot](https://learn.microsoft.com/windows/win32/api/tlhelp32/nf-tlhelp32-createtoolhelp32snapshot),
//!   [Process32FirstW](https://learn.microsoft.com/windows/win32/api/tlhelp32/nf-tlhelp32-process32firstw)
//! - [EmptyWorkingSet](https://learn.microsoft.com/windows/win32/api/psapi/nf-psapi-emptyworkingset)
//!   (needs PROCESS_QUERY_LIMITED_INFORMATION and PROCESS_SET_QUOTA),
//!   [GetProcessMemoryInfo](https://learn.microsoft.com/windows/win32/api/psapi/nf-psapi-getprocessmemoryinfo)

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{
    ERROR_INVALID_PARAMETER, ERROR_NO_MORE_FILES, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::ProcessStatus::{
    K32EmptyWorkingSet, K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
};
use windows_sys::Win32::System::Threading::{
    OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SET_QUOTA,
};

use super::nt::ulong_size;
use super::text::{from_wide, last_error};
use crate::platform::windows::api::{ProcessEntry, TrimError};

/// The running processes.
pub(super) fn list() -> Result<Vec<ProcessEntry>, (u32, String)> {
    // SAFETY: a process snapshot of the whole system (the process ID is ignored).
    let handle = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if handle == INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    // SAFETY: the snapshot handle is ours to close.
    let snapshot = unsafe { OwnedHandle::from_raw_handle(handle) };
    // SAFETY: PROCESSENTRY32W is plain data; all-zero is valid, and dwSize is set below.
    let mut entry: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    entry.dwSize = ulong_size::<PROCESSENTRY32W>();
    let mut processes = Vec::new();
    // SAFETY: an open snapshot and a live entry with dwSize set.
    let mut ok = unsafe { Process32FirstW(snapshot.as_raw_handle(), &raw mut entry) };
    while ok != 0 {
        processes.push(ProcessEntry {
            pid: entry.th32ProcessID,
            name: from_wide(&entry.szExeFile),
        });
        // SAFETY: as above.
        ok = unsafe { Process32NextW(snapshot.as_raw_handle(), &raw mut entry) };
    }
    let (code, message) = last_error();
    if code != ERROR_NO_MORE_FILES {
        return Err((code, message));
    }
    Ok(processes)
}

/// The working set of the process behind `process`, in bytes.
fn working_set(process: &OwnedHandle) -> u64 {
    // SAFETY: PROCESS_MEMORY_COUNTERS is plain data; all-zero is valid.
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    counters.cb = ulong_size::<PROCESS_MEMORY_COUNTERS>();
    // SAFETY: a handle with PROCESS_QUERY_LIMITED_INFORMATION and a live structure of the size
    // passed.
    let ok = unsafe {
        K32GetProcessMemoryInfo(
            process.as_raw_handle(),
            &raw mut counters,
            ulong_size::<PROCESS_MEMORY_COUNTERS>(),
        )
    };
    if ok == 0 {
        0
    } else {
        counters.WorkingSetSize as u64
    }
}

/// Empties the working set of process `pid`; its size before and after.
pub(super) fn empty_working_set(pid: u32) -> Result<(u64, u64), TrimError> {
    // SAFETY: OpenProcess takes any ID; a null result is an error.
    let handle = unsafe {
        OpenProcess(
            PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SET_QUOTA,
            0,
            pid,
        )
    };
    if handle.is_null() {
        let (code, message) = last_error();
        // A process that exited is no longer a valid ID.
        return Err(if code == ERROR_INVALID_PARAMETER {
            TrimError::Exited
        } else {
            TrimError::Refused(code, message)
        });
    }
    // SAFETY: OpenProcess succeeded: the handle is ours to close.
    let process = unsafe { OwnedHandle::from_raw_handle(handle) };
    let before = working_set(&process);
    // SAFETY: a process handle with PROCESS_SET_QUOTA, as EmptyWorkingSet requires.
    if unsafe { K32EmptyWorkingSet(process.as_raw_handle()) } == 0 {
        let (code, message) = last_error();
        return Err(TrimError::Refused(code, message));
    }
    Ok((before, working_set(&process)))
}
