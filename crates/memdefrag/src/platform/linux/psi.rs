//! Memory pressure stall information: /proc/pressure/memory (Linux 4.20+, when the kernel was
//! built with PSI and booted without `psi=0`).
//!
//! # References
//! - [PSI - Pressure Stall Information](https://docs.kernel.org/accounting/psi.html)

use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::backend::{OsError, StallTrigger};
use crate::snapshot::Pressure;

pub(crate) const PATH: &str = "/proc/pressure/memory";

/// Parses `some avg10=… avg60=… avg300=… total=…` and the `full` line.
pub(crate) fn parse(text: &str) -> Result<Pressure, String> {
    let mut pressure = Pressure::default();
    let (mut some, mut full) = (false, false);
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let (mut avg10, mut total) = (None, None);
        for word in words {
            match word.split_once('=') {
                Some(("avg10", v)) => avg10 = v.parse::<f64>().ok().filter(|v| v.is_finite()),
                Some(("total", v)) => total = v.parse::<u64>().ok(),
                _ => {}
            }
        }
        let (Some(avg10), Some(total)) = (avg10, total) else {
            return Err(format!("unexpected line: {line:?}"));
        };
        match kind {
            "some" => {
                pressure.some_avg10 = avg10;
                pressure.some_total_us = total;
                some = true;
            }
            "full" => {
                pressure.full_avg10 = avg10;
                pressure.full_total_us = total;
                full = true;
            }
            _ => return Err(format!("unexpected line: {line:?}")),
        }
    }
    if some && full {
        Ok(pressure)
    } else {
        Err("the some or the full line is missing".into())
    }
}

/// The memory pressure now, if the kernel has PSI.
pub(crate) fn read() -> Option<Pressure> {
    parse(&std::fs::read_to_string(PATH).ok()?).ok()
}

/// A PSI trigger on /proc/pressure/memory: `some <stall µs> <window µs>`, then POLLPRI each
/// time the stall within a window passes the threshold (at most once per window).
pub(crate) struct Trigger {
    file: std::fs::File,
}

impl Trigger {
    pub(crate) fn new(stall: Duration, window: Duration) -> std::io::Result<Trigger> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(PATH)?;
        // One write, with the terminating NUL, as the kernel's documentation does it.
        let request = format!("some {} {}\0", stall.as_micros(), window.as_micros());
        file.write_all(request.as_bytes())?;
        Ok(Trigger { file })
    }
}

impl StallTrigger for Trigger {
    fn wait(&mut self, timeout: Duration) -> Result<bool, OsError> {
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&self.file, PollFlags::PRI)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => Ok(false),
            Ok(_) => {
                let events = fds[0].revents();
                if events.contains(PollFlags::ERR) {
                    // The trigger's file went away (a cgroup's, when its group is removed).
                    return Err(OsError::other(format!("{PATH}: the trigger was removed")));
                }
                Ok(events.contains(PollFlags::PRI))
            }
            Err(e) => Err(OsError::from_io(
                &format!("wait for {PATH}"),
                &std::io::Error::from(e),
            )),
        }
    }
}

/// Where free page reporting keeps its order (virtio-balloon guests).
pub(crate) const PAGE_REPORTING_ORDER: &str =
    "/sys/module/page_reporting/parameters/page_reporting_order";

/// The smallest block a guest reports to its hypervisor, if it reports free pages.
pub(crate) fn page_reporting_order() -> Option<u32> {
    std::fs::read_to_string(PAGE_REPORTING_ORDER)
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_lines_are_read() {
        let p = parse(
            "some avg10=1.50 avg60=0.20 avg300=0.00 total=50932\nfull avg10=0.25 avg60=0.00 avg300=0.00 total=46802\n",
        )
        .unwrap();
        assert_eq!(
            p,
            Pressure {
                some_avg10: 1.5,
                full_avg10: 0.25,
                some_total_us: 50932,
                full_total_us: 46802
            }
        );
    }

    #[test]
    fn broken_files_are_errors() {
        for bad in [
            "",
            "some avg10=1.50 total=1\n",
            "some avg10=x total=1\nfull avg10=0 total=1\n",
            "some avg10=1 total=-1\nfull avg10=0 total=1\n",
            "other avg10=1 total=1\nfull avg10=0 total=1\n",
            "some avg10=NaN total=1\nfull avg10=0 total=1\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
