//! The real calls, run wherever the tests run: on Windows, or under Wine (whose
//! NtSetSystemInformation is a stub and whose memory-list query fails).
use super::text::{from_wide, wide};
use super::System;
use crate::platform::windows::api::{
    MemoryListCommand, NtApi, NtStatus, Privilege, PrivilegeError, SetRequest,
};

#[test]
#[cfg(target_pointer_width = "64")]
fn a_64_bit_build_is_not_wow64() {
    assert!(!System.is_wow64());
}

/// The token is process-wide: tests that change it take turns.
static TOKEN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn under_wine() -> bool {
    std::env::var_os("MEMDEFRAG_TEST_UNDER_WINE").is_some()
}

#[test]
fn privileges_are_enabled_and_restored() {
    let _token = TOKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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
            assert!(!System.is_elevated(), "elevated but {} missing", p.name());
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
fn cpu_times_move_forward_and_busy_stays_within_total() {
    let first = System.cpu_times().unwrap();
    assert!(first.total > 0 && first.busy <= first.total, "{first:?}");
    // Spin a little so that some busy time passes.
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(100) {
        std::hint::black_box(0u64);
    }
    let then = System.cpu_times().unwrap();
    assert!(then.total > first.total, "{first:?} {then:?}");
    assert!(
        then.busy >= first.busy && then.busy <= then.total,
        "{first:?} {then:?}"
    );
}

#[test]
fn the_list_query_answers_or_fails_cleanly() {
    let _token = TOKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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
#[ignore = "purges memory and needs elevation; scripts/test runs it under Wine"]
fn elevated_a_memory_list_command_reaches_the_kernel() {
    let _token = TOKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Under Wine this returns success without effect; on Windows it purges the low-priority
    // standby list.
    let state = System
        .enable_privileges(&[Privilege::ProfileSingleProcess])
        .expect("this test needs an elevated process");
    let result = System.set_information(SetRequest::MemoryList(
        MemoryListCommand::PurgeLowPriorityStandbyList,
    ));
    System.restore_privileges(&state);
    assert_eq!(result, Ok(0));
}

#[test]
fn without_the_privilege_a_memory_list_command_is_refused() {
    let _token = TOKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // The privilege is off unless enabled: the kernel must refuse, and purge nothing.
    let result = System.set_information(SetRequest::MemoryList(
        MemoryListCommand::PurgeLowPriorityStandbyList,
    ));
    if under_wine() {
        // Wine's stub succeeds whatever the token holds.
        assert_eq!(result, Ok(0));
    } else {
        assert_eq!(result, Err(NtStatus::PRIVILEGE_NOT_HELD));
    }
}

#[test]
fn wide_strings_round_trip() {
    let w = wide(r"\\?\Volume{1}\");
    assert_eq!(w.last(), Some(&0));
    assert_eq!(from_wide(&w), r"\\?\Volume{1}\");
}
