//! The seam between the Windows backend's decisions and the NT/Win32 calls it makes.
//!
//! [`NtApi`] is implemented by `ffi::System` over the real calls, and in tests by a scripted
//! fake, so that ordering, privilege handling, version gating, WOW64 refusal and error mapping
//! are tested on every platform. The values mirror phnt's `ntexapi.h`.

use std::fmt;

/// An NTSTATUS code.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct NtStatus(pub i32);

impl NtStatus {
    /// What Wine answers for the memory-list query.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) const INVALID_INFO_CLASS: NtStatus = NtStatus(0xC000_0003_u32 as i32);
    pub(crate) const PRIVILEGE_NOT_HELD: NtStatus = NtStatus(0xC000_0061_u32 as i32);
}

impl fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0 as u32)
    }
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// SYSTEM_MEMORY_LIST_COMMAND (phnt `ntexapi.h`), passed as a 4-byte value to class 80.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub(crate) enum MemoryListCommand {
    EmptyWorkingSets = 2,
    FlushModifiedList = 3,
    PurgeStandbyList = 4,
    PurgeLowPriorityStandbyList = 5,
}

impl MemoryListCommand {
    pub(crate) fn name(self) -> &'static str {
        match self {
            MemoryListCommand::EmptyWorkingSets => "MemoryEmptyWorkingSets",
            MemoryListCommand::FlushModifiedList => "MemoryFlushModifiedList",
            MemoryListCommand::PurgeStandbyList => "MemoryPurgeStandbyList",
            MemoryListCommand::PurgeLowPriorityStandbyList => "MemoryPurgeLowPriorityStandbyList",
        }
    }
}

/// One NtSetSystemInformation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SetRequest {
    /// Class 80 with a SYSTEM_MEMORY_LIST_COMMAND.
    MemoryList(MemoryListCommand),
    /// Class 81 with SYSTEM_FILECACHE_INFORMATION, MinimumWorkingSet = MaximumWorkingSet =
    /// SIZE_T max: trim the system file cache working set.
    TrimFileCache,
    /// Class 130 with a zeroed MEMORY_COMBINE_INFORMATION_EX; returns the pages combined.
    CombinePages,
    /// Class 155 with no buffer: write the registry hives' dirty data back.
    ReconcileRegistry,
}

/// A privilege the backend enables in its process token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Privilege {
    /// SeProfileSingleProcessPrivilege: memory-list commands and queries.
    ProfileSingleProcess,
    /// SeIncreaseQuotaPrivilege: the system file cache working set.
    IncreaseQuota,
}

impl Privilege {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Privilege::ProfileSingleProcess => "SeProfileSingleProcessPrivilege",
            Privilege::IncreaseQuota => "SeIncreaseQuotaPrivilege",
        }
    }
}

/// What enabling privileges changed, so that it can be undone: each privilege with whether it
/// was already enabled.
pub(crate) type PrivilegeState = Vec<(Privilege, bool)>;

/// Why privileges could not be enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PrivilegeError {
    /// The token does not hold the privilege (ERROR_NOT_ALL_ASSIGNED): not elevated.
    NotAssigned(Privilege),
    /// The token could not be opened or adjusted: Win32 code and message.
    Os(u32, String),
}

/// SYSTEM_MEMORY_LIST_INFORMATION, in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryListPages {
    pub zeroed: u64,
    pub free: u64,
    pub modified: u64,
    pub modified_no_write: u64,
    pub bad: u64,
    pub standby_by_priority: [u64; 8],
    pub repurposed_by_priority: [u64; 8],
    pub modified_page_file: u64,
}

/// What the documented API says (GlobalMemoryStatusEx, GetPerformanceInfo), in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DocumentedMemory {
    pub total: u64,
    pub available: u64,
    pub commit_total: u64,
    pub commit_limit: u64,
    pub system_cache: u64,
    pub page_size: u64,
}

/// One volume flush: the volume, where it is mounted, and the Win32 error if it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VolumeFlush {
    pub volume: String,
    pub mount_points: Vec<String>,
    pub error: Option<(u32, String)>,
}

/// A running process: its ID and executable file name (Toolhelp32's szExeFile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcessEntry {
    pub pid: u32,
    pub name: String,
}

/// A process's memory figures from the system's process list (no handle to it is opened).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(windows), allow(dead_code))] // read only by the real process list
pub(crate) struct ProcessMemory {
    pub pid: u32,
    /// The image name, e.g. `VmmemWSL` (empty for the System Idle Process).
    pub name: String,
    /// WorkingSetSize: what Task Manager shows as its memory.
    pub working_set_bytes: u64,
    /// PrivatePageCount: its private bytes (commit).
    pub private_bytes: u64,
    /// User and kernel time, in 100 ns units.
    pub cpu_time_100ns: u64,
}

/// Why one process's working set could not be emptied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TrimError {
    /// It exited meanwhile.
    Exited,
    /// It may not be opened or trimmed (protected, another session's): Win32 code and message.
    Refused(u32, String),
}

/// The NT and Win32 calls the Windows backend makes.
pub(crate) trait NtApi {
    /// IsWow64Process: a 32-bit process on 64-bit Windows.
    fn is_wow64(&self) -> bool;
    /// TokenElevation of the process token.
    fn is_elevated(&self) -> bool;
    /// AdjustTokenPrivileges enabling `privileges`, all or none.
    fn enable_privileges(&self, privileges: &[Privilege])
        -> Result<PrivilegeState, PrivilegeError>;
    /// Puts back what `enable_privileges` changed.
    fn restore_privileges(&self, state: &PrivilegeState);
    /// NtSetSystemInformation; returns the pages combined for `CombinePages`, else 0.
    fn set_information(&self, request: SetRequest) -> Result<u64, NtStatus>;
    /// RtlNtStatusToDosError, and the system's message for that Win32 code.
    fn status_message(&self, status: NtStatus) -> (u32, String);
    /// NtQuerySystemInformation(SystemMemoryListInformation).
    fn memory_lists(&self) -> Result<MemoryListPages, NtStatus>;
    /// NtQuerySystemInformation(SystemBasicInformation): the page size.
    fn page_size(&self) -> Result<u64, NtStatus>;
    /// NtQuerySystemInformation(SystemFileCacheInformation): CurrentSize in bytes.
    fn file_cache_size(&self) -> Result<u64, NtStatus>;
    /// The documented memory figures; the error is a Win32 code and message.
    fn documented_memory(&self) -> Result<DocumentedMemory, (u32, String)>;
    /// FlushFileBuffers on every volume.
    fn flush_volumes(&self) -> Result<Vec<VolumeFlush>, (u32, String)>;
    /// The running processes (CreateToolhelp32Snapshot).
    fn processes(&self) -> Result<Vec<ProcessEntry>, (u32, String)>;
    /// EmptyWorkingSet on one process; its working set size before and after, in bytes.
    fn empty_working_set(&self, pid: u32) -> Result<(u64, u64), TrimError>;
    /// GetSystemTimes: the CPUs' busy and total time since boot.
    fn cpu_times(&self) -> Result<crate::backend::CpuTimes, (u32, String)>;
}
