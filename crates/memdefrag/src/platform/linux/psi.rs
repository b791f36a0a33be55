//! Memory pressure stall information: /proc/pressure/memory (Linux 4.20+, when the kernel was
//! built with PSI and booted without `psi=0`).
//!
//! # References
//! - [PSI - Pressure Stall Information](https://docs.kernel.org/accounting/psi.html)

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
