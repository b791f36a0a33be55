//! A scripted NT API: the Windows backend's decisions run on every platform over it, alone
//! (`ops` tests) and inside whole plans (`plan` tests).

// The fuzz targets (feature `fuzzing`) use only its answers, not its records.
#![cfg_attr(not(test), allow(dead_code))]

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::api::{
    DocumentedMemory, MemoryListPages, NtApi, NtStatus, Privilege, PrivilegeError, PrivilegeState,
    ProcessEntry, SetRequest, TrimError, VolumeFlush,
};

/// A call the backend made, as the fake recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Enable(Vec<Privilege>),
    Restore(PrivilegeState),
    Set(SetRequest),
    QueryLists,
    FlushVolumes,
    Trim(u32),
}

/// A scripted NT API: what each call answers, and the record of calls made.
pub(crate) struct Fake {
    pub(crate) wow64: bool,
    pub(crate) elevated: bool,
    /// Privileges the token holds; of these, the ones already enabled.
    pub(crate) held: HashSet<Privilege>,
    pub(crate) enabled: HashSet<Privilege>,
    /// OpenProcessToken fails.
    pub(crate) token_denied: bool,
    pub(crate) failing: HashMap<SetRequest, NtStatus>,
    pub(crate) lists: Result<MemoryListPages, NtStatus>,
    pub(crate) volumes: Vec<VolumeFlush>,
    pub(crate) events: Mutex<Vec<Event>>,
    /// The running processes, and how emptying each one's working set goes (by process ID:
    /// absent means it works and halves it).
    pub(crate) processes: Vec<ProcessEntry>,
    pub(crate) trim_errors: HashMap<u32, TrimError>,
    /// The privileges enabled now (as the token holds them between enable and restore).
    pub(crate) active: Mutex<HashSet<Privilege>>,
    /// How long the flushes (the modified list's, the volumes') take: a disk that answers
    /// slowly, or not at all.
    pub(crate) flush_takes: std::time::Duration,
    /// What the documented calls, the page size query and the file cache query answer.
    pub(crate) documented: DocumentedMemory,
    pub(crate) page: u64,
    pub(crate) file_cache: u64,
}

pub(crate) const PAGE: u64 = 4096;

impl Default for Fake {
    fn default() -> Fake {
        Fake {
            wow64: false,
            elevated: true,
            held: HashSet::from([Privilege::ProfileSingleProcess, Privilege::IncreaseQuota]),
            enabled: HashSet::new(),
            token_denied: false,
            failing: HashMap::new(),
            lists: Ok(MemoryListPages {
                zeroed: 100,
                free: 50,
                modified: 30,
                modified_no_write: 1,
                bad: 0,
                standby_by_priority: [10, 0, 0, 0, 0, 200, 0, 40],
                repurposed_by_priority: [7; 8],
                modified_page_file: 20,
            }),
            volumes: Vec::new(),
            events: Mutex::new(Vec::new()),
            active: Mutex::new(HashSet::new()),
            processes: Vec::new(),
            trim_errors: HashMap::new(),
            flush_takes: std::time::Duration::ZERO,
            documented: DocumentedMemory {
                total: 16 << 30,
                available: 8 << 30,
                commit_total: 6 << 30,
                commit_limit: 20 << 30,
                system_cache: 3 << 30,
                page_size: PAGE,
            },
            page: PAGE,
            file_cache: 64 << 20,
        }
    }
}

impl Fake {
    fn log(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    pub(crate) fn events(&self) -> Vec<Event> {
        self.log().clone()
    }
    pub(crate) fn sets(&self) -> Vec<SetRequest> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Set(r) => Some(r),
                _ => None,
            })
            .collect()
    }
    /// Every Enable is followed, later, by the Restore of what it changed.
    #[track_caller]
    pub(crate) fn assert_privileges_restored(&self) {
        let events = self.events();
        let enables = events
            .iter()
            .filter(|e| matches!(e, Event::Enable(_)))
            .count();
        let restores = events
            .iter()
            .filter(|e| matches!(e, Event::Restore(_)))
            .count();
        assert_eq!(enables, restores, "{events:?}");
    }
}

impl NtApi for Fake {
    fn is_wow64(&self) -> bool {
        self.wow64
    }
    fn is_elevated(&self) -> bool {
        self.elevated
    }
    fn enable_privileges(
        &self,
        privileges: &[Privilege],
    ) -> Result<PrivilegeState, PrivilegeError> {
        if self.token_denied {
            return Err(PrivilegeError::Os(5, "Access is denied.".into()));
        }
        if let Some(&missing) = privileges.iter().find(|p| !self.held.contains(p)) {
            return Err(PrivilegeError::NotAssigned(missing));
        }
        self.log().push(Event::Enable(privileges.to_vec()));
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(privileges.iter().copied());
        Ok(privileges
            .iter()
            .map(|&p| (p, self.enabled.contains(&p)))
            .collect())
    }
    fn restore_privileges(&self, state: &PrivilegeState) {
        self.log().push(Event::Restore(state.clone()));
        let mut active = self
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (privilege, was_enabled) in state {
            if !was_enabled {
                active.remove(privilege);
            }
        }
    }
    fn set_information(&self, request: SetRequest) -> Result<u64, NtStatus> {
        self.log().push(Event::Set(request));
        if request == SetRequest::MemoryList(super::api::MemoryListCommand::FlushModifiedList) {
            std::thread::sleep(self.flush_takes);
        }
        if let Some(&status) = self.failing.get(&request) {
            return Err(status);
        }
        Ok(if request == SetRequest::CombinePages {
            1234
        } else {
            0
        })
    }
    fn status_message(&self, status: NtStatus) -> (u32, String) {
        match status {
            NtStatus::PRIVILEGE_NOT_HELD => (
                1314,
                "A required privilege is not held by the client.".into(),
            ),
            NtStatus::INVALID_INFO_CLASS => (87, "The parameter is incorrect.".into()),
            _ => (317, "The system cannot find message text.".into()),
        }
    }
    fn memory_lists(&self) -> Result<MemoryListPages, NtStatus> {
        self.log().push(Event::QueryLists);
        // As on Windows: the query needs SeProfileSingleProcessPrivilege enabled (a kernel
        // without the class, as Wine, refuses the class first).
        let enabled = self.enabled.contains(&Privilege::ProfileSingleProcess)
            || self
                .active
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&Privilege::ProfileSingleProcess);
        match self.lists {
            Ok(_) if !enabled => Err(NtStatus::PRIVILEGE_NOT_HELD),
            other => other,
        }
    }
    fn page_size(&self) -> Result<u64, NtStatus> {
        Ok(self.page)
    }
    fn file_cache_size(&self) -> Result<u64, NtStatus> {
        Ok(self.file_cache)
    }
    fn documented_memory(&self) -> Result<DocumentedMemory, (u32, String)> {
        Ok(self.documented)
    }
    fn processes(&self) -> Result<Vec<ProcessEntry>, (u32, String)> {
        Ok(self.processes.clone())
    }
    fn empty_working_set(&self, pid: u32) -> Result<(u64, u64), TrimError> {
        self.log().push(Event::Trim(pid));
        match self.trim_errors.get(&pid) {
            Some(e) => Err(e.clone()),
            None => Ok((u64::from(pid) << 20, u64::from(pid) << 19)),
        }
    }
    fn cpu_times(&self) -> Result<crate::backend::CpuTimes, (u32, String)> {
        Ok(crate::backend::CpuTimes { busy: 1, total: 10 })
    }
    fn flush_volumes(&self) -> Result<Vec<VolumeFlush>, (u32, String)> {
        self.log().push(Event::FlushVolumes);
        std::thread::sleep(self.flush_takes);
        Ok(self.volumes.clone())
    }
}
