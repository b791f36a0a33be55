//! Sizes, durations and percentages as people write them (`512MiB`, `1.5GiB`, `10%`, `1h30m`),
//! and back: the values of the command line's options and of the options a service records.
//! Any text is a value or an error that says what to write instead, never a panic.

use std::time::Duration;

use crate::watch::Threshold;

/// A size: a number with a unit of B, KiB, MiB, GiB, TiB or KB, MB, GB, TB (any case).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("'{s}' has no unit: write e.g. 512MiB or 2GB"))?;
    let (digits, unit) = s.split_at(split);
    let number: f64 = digits
        .parse()
        .map_err(|_| format!("'{s}' does not start with a number"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "'{unit}' is not a size unit: use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB"
            ))
        }
    };
    let too_large = || format!("'{s}' is too large");
    // A whole number is multiplied exactly (a double holds integers exactly only up to 2^53, and
    // a recorded size must read back to the byte); a fraction goes through a double.
    if let Ok(whole) = digits.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(too_large);
    }
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(too_large());
    }
    Ok(bytes as u64)
}

/// A percentage from 0 to 100, with or without a trailing %.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let number = s.trim().trim_end_matches('%').trim();
    let p: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a percentage"))?;
    if !(0.0..=100.0).contains(&p) {
        return Err(format!("a percentage must be from 0 to 100, not {p}"));
    }
    Ok(p)
}

/// A size, or a percentage of total memory when it ends with %.
pub fn parse_threshold(s: &str) -> Result<Threshold, String> {
    if s.trim().ends_with('%') {
        parse_percent(s).map(Threshold::Percent)
    } else {
        parse_size(s).map(Threshold::Bytes)
    }
}

/// A duration: 500ms, 5s, 10m, 1h (and combinations such as 1h30m).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}): write e.g. 500ms, 5s, 10m or 1h"))
}

/// A size in the largest unit that holds it exactly (1GiB, 1536MiB, 1000B).
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// A duration as one word that parses back (1h30m, 500ms).
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration)
        .to_string()
        .replace(' ', "")
}

/// Any text given to an option is a value or a usage error, never a panic; and what a service
/// records reads back as the same value.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn no_option_value_makes_a_parser_panic(
            s in prop_oneof![
                any::<String>(),
                "[0-9 .,eE+-]{0,30}[A-Za-z%]{0,5}",
                "[0-9]{0,25}(ns|us|ms|s|m|h|d|w|y|B|KiB|MiB|GiB|TiB|PiB|%){0,3}",
            ]
        ) {
            let _ = parse_size(&s);
            let _ = parse_percent(&s);
            let _ = parse_threshold(&s);
            let _ = parse_duration(&s);
        }

        /// Found: sizes above 2^53 bytes read back off by one (they went through a double).
        #[test]
        fn recorded_sizes_read_back(bytes in any::<u64>()) {
            prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }

        #[test]
        fn recorded_durations_read_back(ms in 1u64..365 * 86_400_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn percentages_are_within_0_and_100(s in "[0-9.]{1,8}%?") {
            if let Ok(p) = parse_percent(&s) {
                prop_assert!((0.0..=100.0).contains(&p), "{}", p);
            }
        }
    }
}
