//! The Windows decisions through a scripted [`NtApi`]: these run on every platform.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use super::*;
use crate::backend::Backend;
use crate::platform::windows::api::{DocumentedMemory, MemoryListPages, VolumeFlush};
use crate::{Plan, Status};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Enable(Vec<Privilege>),
    Restore(PrivilegeState),
    Set(SetRequest),
    QueryLists,
    FlushVolumes,
}

struct Fake {
    version: OsVersion,
    wow64: bool,
    elevated: bool,
    /// Privileges the token holds; of these, the ones already enabled.
    held: HashSet<Privilege>,
    enabled: HashSet<Privilege>,
    /// OpenProcessToken fails.
    token_denied: bool,
    failing: HashMap<SetRequest, NtStatus>,
    lists: Result<MemoryListPages, NtStatus>,
    volumes: Vec<VolumeFlush>,
    events: RefCell<Vec<Event>>,
}

const WIN7: OsVersion = OsVersion {
    major: 6,
    minor: 1,
    build: 7601,
};
const WIN81: OsVersion = OsVersion {
    major: 6,
    minor: 3,
    build: 9600,
};
const WIN10: OsVersion = OsVersion {
    major: 10,
    minor: 0,
    build: 19045,
};
const PAGE: u64 = 4096;

impl Default for Fake {
    fn default() -> Fake {
        Fake {
            version: WIN10,
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
            events: RefCell::new(Vec::new()),
        }
    }
}

impl Fake {
    fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }
    fn sets(&self) -> Vec<SetRequest> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Set(r) => Some(r),
                _ => None,
            })
            .collect()
    }
    /// Every Enable is followed, later, by the Restore of what it changed.
    fn assert_privileges_restored(&self) {
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
    fn version(&self) -> OsVersion {
        self.version
    }
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
        self.events
            .borrow_mut()
            .push(Event::Enable(privileges.to_vec()));
        Ok(privileges
            .iter()
            .map(|&p| (p, self.enabled.contains(&p)))
            .collect())
    }
    fn restore_privileges(&self, state: &PrivilegeState) {
        self.events.borrow_mut().push(Event::Restore(state.clone()));
    }
    fn set_information(&self, request: SetRequest) -> Result<u64, NtStatus> {
        self.events.borrow_mut().push(Event::Set(request));
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
        self.events.borrow_mut().push(Event::QueryLists);
        self.lists
    }
    fn page_size(&self) -> Result<u64, NtStatus> {
        Ok(PAGE)
    }
    fn file_cache_size(&self) -> Result<u64, NtStatus> {
        Ok(64 << 20)
    }
    fn documented_memory(&self) -> Result<DocumentedMemory, (u32, String)> {
        Ok(DocumentedMemory {
            total: 16 << 30,
            available: 8 << 30,
            commit_total: 6 << 30,
            commit_limit: 20 << 30,
            system_cache: 3 << 30,
            page_size: PAGE,
        })
    }
    fn flush_volumes(&self) -> Result<Vec<VolumeFlush>, (u32, String)> {
        self.events.borrow_mut().push(Event::FlushVolumes);
        Ok(self.volumes.clone())
    }
}

/// The backend over the fake, so that whole plans run as they do on Windows.
impl Backend for Fake {
    fn platform(&self) -> &'static str {
        PLATFORM
    }
    fn default_plan(&self) -> Vec<Op> {
        default_plan()
    }
    fn describe(&self, op: Op) -> OpInfo {
        describe(self, op)
    }
    fn check_privilege(&self, op: Op) -> Result<(), NotPrivileged> {
        check_privilege(self, op)
    }
    fn snapshot(&self) -> Result<Snapshot, Error> {
        snapshot(self)
    }
    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Option<u64> {
        estimate(op, snapshot)
    }
    fn run(&self, op: Op) -> Result<Outcome, OsError> {
        run(self, op)
    }
}

use crate::platform::windows::api::MemoryListCommand::*;

#[test]
fn defrag_runs_the_seeds_sequence_under_the_privilege_and_restores_it() {
    let fake = Fake::default();
    let report = Plan::default_for(&fake).execute(&fake).unwrap();
    let ops: Vec<Op> = report.operations.iter().map(|o| o.op).collect();
    assert_eq!(ops, [Op::WorkingSets, Op::Modified, Op::Standby]);
    assert!(report.operations.iter().all(|o| o.status == Status::Ok));
    assert_eq!(
        fake.sets(),
        [
            SetRequest::MemoryList(EmptyWorkingSets),
            SetRequest::MemoryList(FlushModifiedList),
            SetRequest::MemoryList(PurgeStandbyList),
        ]
    );
    // Each command runs between enabling SeProfileSingleProcessPrivilege and restoring it.
    let events = fake.events();
    let standby = events
        .iter()
        .position(|e| *e == Event::Set(SetRequest::MemoryList(PurgeStandbyList)))
        .unwrap();
    assert_eq!(
        events[standby - 1],
        Event::Enable(vec![Privilege::ProfileSingleProcess])
    );
    assert_eq!(
        events[standby + 1],
        Event::Restore(vec![(Privilege::ProfileSingleProcess, false)])
    );
    fake.assert_privileges_restored();
}

#[test]
fn a_failing_command_stops_the_sequence_and_keeps_the_ntstatus() {
    let fake = Fake {
        failing: HashMap::from([(
            SetRequest::MemoryList(FlushModifiedList),
            NtStatus::INVALID_INFO_CLASS,
        )]),
        ..Fake::default()
    };
    let report = Plan::default_for(&fake).execute(&fake).unwrap();
    let statuses: Vec<Status> = report.operations.iter().map(|o| o.status).collect();
    assert_eq!(statuses, [Status::Ok, Status::Failed, Status::Skipped]);
    assert_eq!(fake.sets().len(), 2, "standby never ran");
    let err = report.operations[1].error.as_ref().unwrap();
    assert_eq!(err.ntstatus.as_deref(), Some("0xC0000003"));
    assert_eq!(err.code, 87);
    assert!(
        err.message.contains("MemoryFlushModifiedList=3"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("The parameter is incorrect."),
        "{}",
        err.message
    );
    assert!(!err.not_privileged);
    assert_eq!(report.exit_code(), crate::exit::FAILED);
    fake.assert_privileges_restored();
}

#[test]
fn privilege_not_held_at_run_time_maps_to_exit_77() {
    let fake = Fake {
        failing: HashMap::from([(
            SetRequest::MemoryList(EmptyWorkingSets),
            NtStatus::PRIVILEGE_NOT_HELD,
        )]),
        ..Fake::default()
    };
    let report = Plan::default_for(&fake).execute(&fake).unwrap();
    let err = report.operations[0].error.as_ref().unwrap();
    assert_eq!(err.ntstatus.as_deref(), Some("0xC0000061"));
    assert_eq!(err.code, 1314);
    assert!(err.not_privileged);
    assert_eq!(report.exit_code(), crate::exit::NOT_PRIVILEGED);
    fake.assert_privileges_restored();
}

#[test]
fn a_token_without_the_privilege_is_refused_before_anything_runs() {
    let fake = Fake {
        held: HashSet::new(),
        elevated: false,
        ..Fake::default()
    };
    let err = Plan::default_for(&fake).execute(&fake).unwrap_err();
    assert_eq!(err.exit_code(), crate::exit::NOT_PRIVILEGED);
    let msg = err.to_string();
    assert!(msg.contains("SeProfileSingleProcessPrivilege"), "{msg}");
    assert!(msg.contains("elevated prompt"), "{msg}");
    assert!(fake.sets().is_empty());

    // run() itself also refuses rather than calling without the privilege.
    let err = run(&fake, Op::Standby).unwrap_err();
    assert!(err.not_privileged);
    assert_eq!(err.code, 1300);
    assert_eq!(
        err.message,
        "SeProfileSingleProcessPrivilege is not in the process token"
    );
    assert!(fake.sets().is_empty());
}

#[test]
fn a_token_that_cannot_be_adjusted_is_explained() {
    let fake = Fake {
        token_denied: true,
        ..Fake::default()
    };
    let err = check_privilege(&fake, Op::Standby).unwrap_err();
    assert!(
        err.needs.contains("Access is denied. (error 5)"),
        "{}",
        err.needs
    );
    let err = run(&fake, Op::Standby).unwrap_err();
    assert!(err.not_privileged);
    assert_eq!(
        err.code, 5,
        "the token's own error, not ERROR_NOT_ALL_ASSIGNED"
    );
    assert!(err.message.contains("Access is denied."), "{}", err.message);
    // The snapshot still works: the list query is tried without the privilege.
    assert!(snapshot(&fake).is_ok());
}

#[test]
fn system_working_set_enables_the_quota_privilege_and_trims_the_file_cache() {
    let fake = Fake {
        enabled: HashSet::from([Privilege::ProfileSingleProcess]),
        ..Fake::default()
    };
    run(&fake, Op::SystemWorkingSet).unwrap();
    assert_eq!(
        fake.events(),
        [
            Event::Enable(vec![
                Privilege::IncreaseQuota,
                Privilege::ProfileSingleProcess
            ]),
            Event::Set(SetRequest::TrimFileCache),
            // Only what was off before is turned off again.
            Event::Restore(vec![
                (Privilege::IncreaseQuota, false),
                (Privilege::ProfileSingleProcess, true)
            ]),
        ]
    );
    let fake = Fake {
        held: HashSet::from([Privilege::ProfileSingleProcess]),
        ..Fake::default()
    };
    let err = check_privilege(&fake, Op::SystemWorkingSet).unwrap_err();
    assert!(
        err.needs.contains("SeIncreaseQuotaPrivilege"),
        "{}",
        err.needs
    );
}

#[test]
fn registry_and_combine_are_gated_on_the_real_version() {
    let supported = |fake: &Fake, op| describe(fake, op).unsupported_reason().is_none();
    let win7 = Fake {
        version: WIN7,
        ..Fake::default()
    };
    for op in [Op::Registry, Op::Combine] {
        assert!(!supported(&win7, op), "{op}");
        let err = Plan::canonical([Op::Standby, op])
            .execute(&win7)
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED);
        assert!(run(&win7, op).is_err(), "run() refuses too");
    }
    assert!(win7.sets().is_empty(), "never called in hope");
    let reason = describe(&win7, Op::Registry).support;
    assert_eq!(
        reason,
        Support::No {
            reason: "needs Windows 8.1 (6.3) or later; this is Windows 6.1.7601".into()
        }
    );
    let win81 = Fake {
        version: WIN81,
        ..Fake::default()
    };
    assert!(supported(&win81, Op::Registry));
    assert!(!supported(&win81, Op::Combine));
    let win10 = Fake::default();
    assert!(supported(&win10, Op::Registry) && supported(&win10, Op::Combine));
    for op in [
        Op::WorkingSets,
        Op::Modified,
        Op::Standby,
        Op::StandbyLow,
        Op::SystemWorkingSet,
    ] {
        assert!(supported(&win7, op), "{op} since Vista");
    }
    assert!(!supported(&win10, Op::Compact));
}

#[test]
fn combine_reports_the_pages_combined() {
    let fake = Fake::default();
    let outcome = run(&fake, Op::Combine).unwrap();
    assert_eq!(outcome.counts, [("pages_combined", 1234)]);
    assert_eq!(fake.sets(), [SetRequest::CombinePages]);
}

#[test]
fn wow64_refuses_pointer_sized_calls_and_skips_the_list_query() {
    let fake = Fake {
        wow64: true,
        ..Fake::default()
    };
    for op in [Op::SystemWorkingSet, Op::Combine] {
        let reason = describe(&fake, op).unsupported_reason().unwrap().to_owned();
        assert!(
            reason.contains("WOW64") && reason.contains("64-bit build"),
            "{reason}"
        );
    }
    for op in [
        Op::WorkingSets,
        Op::Modified,
        Op::Standby,
        Op::StandbyLow,
        Op::Registry,
    ] {
        assert!(describe(&fake, op).unsupported_reason().is_none(), "{op}");
    }
    let snap = snapshot(&fake).unwrap();
    assert!(!fake.events().contains(&Event::QueryLists));
    let Detail::Windows(w) = &snap.detail else {
        panic!()
    };
    assert!(w.memory_lists.is_none());
    assert!(w.memory_lists_error.as_deref().unwrap().contains("WOW64"));
}

#[test]
fn snapshot_from_the_lists_multiplies_pages_and_names_the_source() {
    let fake = Fake::default();
    let s = snapshot(&fake).unwrap();
    assert_eq!(s.platform, "windows");
    assert_eq!(s.total_bytes, 16 << 30);
    assert_eq!(s.available_bytes, 8 << 30);
    assert_eq!(s.free_bytes, 150 * PAGE);
    assert_eq!(s.cache_bytes, 250 * PAGE);
    assert_eq!(s.modified_bytes, 30 * PAGE);
    let Detail::Windows(w) = &s.detail else {
        panic!()
    };
    let lists = w.memory_lists.as_ref().unwrap();
    assert_eq!(lists.standby_bytes_by_priority[5], 200 * PAGE);
    assert_eq!(lists.modified_page_file_bytes, 20 * PAGE);
    assert_eq!(lists.repurposed_pages_by_priority, [7; 8]);
    assert_eq!(w.sources.free_bytes, LIST_SOURCE);
    assert_eq!(w.file_cache_bytes, Some(64 << 20));
    // The query ran with the privilege enabled, and it was put back.
    let events = fake.events();
    let query = events.iter().position(|e| *e == Event::QueryLists).unwrap();
    assert!(matches!(events[query - 1], Event::Enable(_)));
    fake.assert_privileges_restored();

    assert_eq!(estimate(Op::Standby, &s), Some(250 * PAGE));
    assert_eq!(estimate(Op::StandbyLow, &s), Some(10 * PAGE));
    assert_eq!(estimate(Op::Modified, &s), Some(30 * PAGE));
    assert_eq!(estimate(Op::SystemWorkingSet, &s), Some(64 << 20));
    assert_eq!(estimate(Op::WorkingSets, &s), None);
}

#[test]
fn a_failed_list_query_falls_back_to_the_documented_api_and_says_so() {
    let fake = Fake {
        lists: Err(NtStatus::INVALID_INFO_CLASS),
        ..Fake::default()
    };
    let s = snapshot(&fake).unwrap();
    assert_eq!(s.cache_bytes, 3 << 30);
    assert_eq!(s.free_bytes, (8 << 30) - (3 << 30));
    assert_eq!(s.modified_bytes, 0);
    let Detail::Windows(w) = &s.detail else {
        panic!()
    };
    let why = w.memory_lists_error.as_deref().unwrap();
    assert!(
        why.contains("0xC0000003") && why.contains("parameter is incorrect"),
        "{why}"
    );
    assert!(w.sources.modified_bytes.starts_with("unavailable"));
    assert!(w.sources.cache_bytes.contains("estimate"));
    assert_eq!(estimate(Op::Standby, &s), None);

    let text = crate::report::render_status(&s);
    assert!(text.contains("memory lists unavailable"), "{text}");
}

fn volume(name: &str, mount: &[&str], error: Option<(u32, &str)>) -> VolumeFlush {
    VolumeFlush {
        volume: name.into(),
        mount_points: mount.iter().map(|m| m.to_string()).collect(),
        error: error.map(|(c, m)| (c, m.to_string())),
    }
}

#[test]
fn flush_volumes_counts_and_names_the_failures() {
    let fake = Fake {
        volumes: vec![
            volume(r"\\?\Volume{1}\", &[r"C:\"], None),
            volume(r"\\?\Volume{2}\", &[r"C:\mnt\data\"], None),
            volume(
                r"\\?\Volume{3}\",
                &[],
                Some((21, "The device is not ready.")),
            ),
        ],
        ..Fake::default()
    };
    let outcome = run(&fake, Op::FlushVolumes).unwrap();
    assert_eq!(
        outcome.counts,
        [("volumes_flushed", 2), ("volumes_failed", 1)]
    );
    assert_eq!(
        outcome.notes,
        [r"\\?\Volume{3}\ (not mounted): The device is not ready. (error 21)"]
    );

    let denied = Fake {
        volumes: vec![volume(
            r"\\?\Volume{1}\",
            &[r"C:\"],
            Some((5, "Access is denied.")),
        )],
        ..Fake::default()
    };
    let err = run(&denied, Op::FlushVolumes).unwrap_err();
    assert!(err.not_privileged);
    assert!(err.message.contains(r"C:\"), "{}", err.message);

    let unelevated = Fake {
        elevated: false,
        ..Fake::default()
    };
    let err = check_privilege(&unelevated, Op::FlushVolumes).unwrap_err();
    assert!(err.needs.contains("elevated"), "{}", err.needs);
}

#[test]
fn kernel_calls_are_shown_exactly() {
    assert_eq!(
        kernel_call(Op::Standby),
        "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryPurgeStandbyList=4)"
    );
    assert_eq!(
        kernel_call(Op::WorkingSets),
        "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryEmptyWorkingSets=2)"
    );
    assert_eq!(
        kernel_call(Op::StandbyLow),
        "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryPurgeLowPriorityStandbyList=5)"
    );
    assert!(kernel_call(Op::SystemWorkingSet)
        .starts_with("NtSetSystemInformation(SystemFileCacheInformationEx=81"));
    assert!(kernel_call(Op::Combine)
        .starts_with("NtSetSystemInformation(SystemCombinePhysicalMemoryInformation=130"));
    assert_eq!(
        kernel_call(Op::Registry),
        "NtSetSystemInformation(SystemRegistryReconciliationInformation=155, NULL, 0)"
    );
    let dry = Plan::default_for(&Fake::default())
        .preview(&Fake::default())
        .unwrap();
    assert_eq!(dry.operations[2].kernel_call, kernel_call(Op::Standby));
}
