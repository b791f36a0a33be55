//! `memdefrag service`: a real service under the service control manager (Windows, or Wine's
//! SCM under scripts/test), and the pointer to systemd elsewhere.
//!
//! The `elevated_` tests install services, so they need an elevated process, like the Linux
//! `root_` tests need root. Each uses a name of its own and removes its service even when it
//! fails.

#[cfg(not(windows))]
#[test]
fn service_commands_point_to_systemd_elsewhere() {
    use crate::util::{assert_exit, memdefrag, stderr};
    for args in [
        &["service", "install", "--every", "1s"][..],
        &["service", "status"],
        &["service", "uninstall"],
    ] {
        let out = memdefrag(args);
        assert_exit(&out, 3);
        assert!(
            stderr(&out).contains("contrib/systemd/memdefrag-watch.service"),
            "{}",
            stderr(&out)
        );
    }
}

#[cfg(windows)]
mod windows {
    use std::process::{Command, Output};
    use std::time::{Duration, Instant};

    use crate::util::{
        assert_exit, memdefrag, memdefrag_json, require_elevation, service_start_lock, stderr,
    };

    /// A service installed for one test, removed when the test ends however it ends.
    struct Installed {
        name: String,
    }

    impl Installed {
        fn new(test: &str, options: &[&str]) -> Installed {
            let name = format!("memdefrag-test-{test}-{}", std::process::id());
            let out = memdefrag(&[&["service", "install", "--name", &name][..], options].concat());
            assert_exit(&out, 0);
            Installed { name }
        }

        fn run(&self, command: &str) -> Output {
            memdefrag(&["service", command, "--name", &self.name])
        }

        fn status(&self) -> serde_json::Value {
            let (out, status) =
                memdefrag_json(&["service", "status", "--name", &self.name, "--json"]);
            assert_exit(&out, 0);
            status
        }

        /// Waits up to `limit` for a log entry that `wanted` accepts.
        fn wait_for_log(
            &self,
            limit: Duration,
            wanted: impl Fn(&serde_json::Value) -> bool,
        ) -> serde_json::Value {
            let end = Instant::now() + limit;
            loop {
                let status = self.status();
                if let Some(entry) = status["last_actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| wanted(e))
                {
                    return entry.clone();
                }
                assert!(Instant::now() < end, "no such log entry: {status:#}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    impl Drop for Installed {
        fn drop(&mut self) {
            let log = self.status()["log"].as_str().map(String::from);
            // Already gone when the test uninstalled it: then this fails harmlessly.
            let _ = self.run("uninstall");
            // The log outlives an uninstall on purpose; a test's does not.
            if let Some(log) = log {
                let _ = std::fs::remove_file(&log);
                let _ = std::fs::remove_file(format!("{log}.1"));
            }
        }
    }

    /// `sc query NAME`: its exit code and output.
    fn sc_query(name: &str) -> (Option<i32>, String) {
        let out = Command::new("sc")
            .args(["query", name])
            .output()
            .expect("run sc");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    }

    /// Whether the event log source `name` is registered.
    fn event_source_exists(name: &str) -> bool {
        let key = format!(r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\{name}");
        Command::new("reg")
            .args(["query", &key])
            .output()
            .expect("run reg")
            .status
            .success()
    }

    #[test]
    #[ignore = "installs a service and needs elevation; scripts/test runs it under Wine"]
    fn elevated_service_installs_runs_logs_stops_and_uninstalls() {
        require_elevation();
        let _lock = service_start_lock();
        let service = Installed::new("life", &["--every", "1s", "--ops", "standby"]);
        let name = service.name.clone();
        let (_, text) = sc_query(&name);
        assert!(text.contains("STOPPED"), "installed, not started: {text}");
        assert!(event_source_exists(&name), "event source registered");

        assert_exit(&service.run("start"), 0);
        let (code, text) = sc_query(&name);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.contains("RUNNING"), "{text}");

        let action = service.wait_for_log(Duration::from_secs(10), |e| e["trigger"] == "every");
        assert_eq!(action["ops"], serde_json::json!(["standby"]));
        assert_eq!(action["status"], "ok");
        let status = service.status();
        assert_eq!(status["installed"], true);
        assert_eq!(status["state"], "running");
        assert_eq!(status["start_type"], "automatic");
        assert_eq!(status["account"], "LocalSystem");
        assert_eq!(
            status["options"],
            serde_json::json!([
                "--ops",
                "standby",
                "--every",
                "1s",
                "--interval",
                "1s",
                "--cooldown",
                "30s"
            ])
        );
        assert_eq!(status["last_actions"][0]["service"], "start");

        let start = Instant::now();
        assert_exit(&service.run("stop"), 0);
        let stopped_in = start.elapsed();
        assert!(
            stopped_in < Duration::from_secs(3),
            "stop took {stopped_in:?}"
        );
        let (_, text) = sc_query(&name);
        assert!(text.contains("STOPPED"), "{text}");
        let stop = service.wait_for_log(Duration::from_secs(2), |e| e["service"] == "stop");
        assert_eq!(stop["reason"], "stop");

        assert_exit(&service.run("uninstall"), 0);
        let (code, text) = sc_query(&name);
        assert_ne!(code, Some(0), "{text}");
        // Windows' sc prints the error, 1060 (ERROR_SERVICE_DOES_NOT_EXIST), and exits with it;
        // Wine's exits 1 and prints nothing. memdefrag's own status tells either way: it opens
        // the service and maps 1060 to "not installed".
        let under_wine = std::env::var_os("MEMDEFRAG_TEST_UNDER_WINE").is_some();
        assert!(
            code == Some(1060) || text.contains("1060") || (under_wine && text.trim().is_empty()),
            "{code:?}: {text}"
        );
        let status = service.status();
        assert_eq!(status["installed"], false);
        assert!(!event_source_exists(&name), "event source removed");
    }

    #[test]
    #[ignore = "installs a service and needs elevation; scripts/test runs it under Wine"]
    fn elevated_a_bad_option_installs_nothing() {
        require_elevation();
        let name = format!("memdefrag-test-bad-{}", std::process::id());
        for (options, code) in [
            (&["--every", "0s"][..], 2),
            (&["--every", "soon"], 2),
            (&["--once", "--usage-above", "90"], 2),
            (&["--standby-above", "1GiB"], 2),
            (&["--every", "1s", "--ops", "compact"], 3),
        ] {
            let out = memdefrag(&[&["service", "install", "--name", &name][..], options].concat());
            assert_exit(&out, code);
            assert!(!stderr(&out).is_empty());
            let (sc_code, text) = sc_query(&name);
            assert_ne!(sc_code, Some(0), "{options:?} installed a service: {text}");
            assert!(!event_source_exists(&name));
        }
        assert_exit(
            &memdefrag(&["service", "install", "--name", "two words", "--every", "1s"]),
            2,
        );
    }

    #[test]
    #[ignore = "installs a service and needs elevation; scripts/test runs it under Wine"]
    fn elevated_installing_over_a_service_needs_force() {
        require_elevation();
        let service = Installed::new("twice", &["--every", "1s"]);
        let out = memdefrag(&[
            "service",
            "install",
            "--name",
            &service.name,
            "--every",
            "2s",
        ]);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("already installed"),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
        assert_eq!(service.status()["options"][1], "1s", "unchanged");
        let out = memdefrag(&[
            "service",
            "install",
            "--name",
            &service.name,
            "--every",
            "2s",
            "--force",
        ]);
        assert_exit(&out, 0);
        assert_eq!(service.status()["options"][1], "2s", "replaced");
    }

    #[test]
    #[ignore = "installs a service and needs elevation; scripts/test runs it under Wine"]
    fn elevated_bad_recorded_options_fail_the_start_with_an_exit_code_and_a_log_line() {
        use std::ffi::OsString;
        use windows_service::service::{
            ServiceAccess, ServiceErrorControl, ServiceInfo, ServiceStartType, ServiceType,
        };
        use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

        require_elevation();
        let _lock = service_start_lock();
        let service = Installed::new("broken", &["--every", "1s"]);
        // Someone edits the recorded options by hand.
        let manager =
            ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT).unwrap();
        let handle = manager
            .open_service(&service.name, ServiceAccess::CHANGE_CONFIG)
            .unwrap();
        handle
            .change_config(&ServiceInfo {
                name: OsString::from(&service.name),
                display_name: OsString::from("broken"),
                service_type: ServiceType::OWN_PROCESS,
                start_type: ServiceStartType::OnDemand,
                error_control: ServiceErrorControl::Normal,
                executable_path: std::path::absolute(crate::util::bin()).unwrap(),
                launch_arguments: ["service", "run", "--name", &service.name, "--every", "soon"]
                    .map(OsString::from)
                    .to_vec(),
                dependencies: Vec::new(),
                account_name: None,
                account_password: None,
            })
            .unwrap();
        drop(handle);

        let start = Instant::now();
        let out = service.run("start");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "hung in START_PENDING"
        );
        assert_exit(&out, 1);
        let message = stderr(&out);
        assert!(message.contains("ServiceSpecific(2)"), "{message}");
        assert!(message.contains("start-failed"), "{message}");
        let status = service.status();
        assert_eq!(status["state"], "stopped");
        assert_eq!(
            status["exit_code"],
            serde_json::json!({"kind": "service-specific", "code": 2})
        );
        let failed = status["last_actions"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(failed["service"], "start-failed");
        assert!(
            failed["error"].as_str().unwrap().contains("soon"),
            "{failed}"
        );
    }

    #[test]
    fn the_service_process_needs_the_scm() {
        let _lock = service_start_lock();
        let out = memdefrag(&["service", "run", "--name", "memdefrag", "--every", "1s"]);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("memdefrag service start"),
            "{}",
            stderr(&out)
        );
    }

    #[test]
    fn status_of_a_service_that_is_not_installed() {
        let (out, status) =
            memdefrag_json(&["service", "status", "--name", "memdefrag-absent", "--json"]);
        assert_exit(&out, 0);
        assert_eq!(status["installed"], false);
        assert!(status.get("state").is_none());
        let out = memdefrag(&["service", "status", "--name", "memdefrag-absent"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("not installed"));
    }
}
