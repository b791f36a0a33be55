//! Documented facts about the system: whether this process runs under WOW64, the documented
//! memory figures, and the CPUs' time (the idle trigger).
//!
//! # References
//! - [IsWow64Process](https://learn.microsoft.com/windows/win32/api/wow64apiset/nf-wow64apiset-iswow64process)
//! - [GlobalMemoryStatusEx](https://learn.microsoft.com/windows/win32/api/sysinfoapi/nf-sysinfoapi-globalmemorystatusex),
//!   [GetPerformanceInfo](https://learn.microsoft.com/windows/win32/api/psapi/nf-psapi-getperformanceinfo)
//! - [GetSystemTimes](https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-getsystemtimes)

use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::System::ProcessStatus::{GetPerformanceInfo, PERFORMANCE_INFORMATION};
use windows_sys::Win32::System::SystemInformation::{GlobalMemoryStatusEx, MEMORYSTATUSEX};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetSystemTimes, IsWow64Process};

use super::nt::ulong_size;
use super::text::last_error;
use crate::platform::windows::api::DocumentedMemory;

/// Whether this is a 32-bit process on 64-bit Windows.
pub(super) fn is_wow64() -> bool {
    let mut wow64 = 0;
    // SAFETY: the current-process pseudo-handle and a valid out pointer.
    let ok = unsafe { IsWow64Process(GetCurrentProcess(), &raw mut wow64) };
    ok != 0 && wow64 != 0
}

/// GlobalMemoryStatusEx and GetPerformanceInfo, in bytes.
pub(super) fn documented_memory() -> Result<DocumentedMemory, (u32, String)> {
    // SAFETY: MEMORYSTATUSEX is plain data; all-zero is a valid value.
    let mut status: MEMORYSTATUSEX = unsafe { std::mem::zeroed() };
    status.dwLength = ulong_size::<MEMORYSTATUSEX>();
    // SAFETY: a live MEMORYSTATUSEX with dwLength set, as the call requires.
    if unsafe { GlobalMemoryStatusEx(&raw mut status) } == 0 {
        return Err(last_error());
    }
    // SAFETY: PERFORMANCE_INFORMATION is plain data; all-zero is a valid value.
    let mut perf: PERFORMANCE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: a live PERFORMANCE_INFORMATION of the size passed.
    if unsafe { GetPerformanceInfo(&raw mut perf, ulong_size::<PERFORMANCE_INFORMATION>()) } == 0 {
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

/// GetSystemTimes, summed over the CPUs, in 100 ns units: kernel time includes idle time, so
/// busy is kernel + user − idle.
pub(super) fn cpu_times() -> Result<crate::backend::CpuTimes, (u32, String)> {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut idle, mut kernel, mut user) = (zero, zero, zero);
    // SAFETY: three live FILETIMEs for the call to fill.
    if unsafe { GetSystemTimes(&raw mut idle, &raw mut kernel, &raw mut user) } == 0 {
        return Err(last_error());
    }
    let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
    let total = ticks(kernel).saturating_add(ticks(user));
    Ok(crate::backend::CpuTimes {
        busy: total.saturating_sub(ticks(idle)),
        total,
    })
}
