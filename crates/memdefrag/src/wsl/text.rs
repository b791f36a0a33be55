//! What `wsl.exe` prints: its own messages and lists in UTF-16LE (unless `WSL_UTF8=1` is set),
//! a Linux command's output as the command's own bytes (UTF-8).

/// The text of `bytes` written by `wsl.exe`, whichever encoding it chose: UTF-16LE with or
/// without a byte order mark, or UTF-8 (with or without one). NULs (UTF-16 terminators, padding)
/// are dropped; line ends are kept as they were.
pub fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16le(rest);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8(rest);
    }
    if looks_utf16le(bytes) {
        utf16le(bytes)
    } else {
        utf8(bytes)
    }
}

/// Whether `bytes` look like UTF-16LE without a byte order mark: text in the Latin ranges has a
/// 0 in the high byte of most characters, and every line end is `0D 00 0A 00`, where UTF-8 text
/// has no NUL at all.
fn looks_utf16le(bytes: &[u8]) -> bool {
    let pairs: Vec<&[u8]> = bytes.chunks_exact(2).take(64).collect();
    if pairs.is_empty() {
        return false;
    }
    let ascii_like = pairs.iter().filter(|p| p[1] == 0 && p[0] != 0).count();
    // A quarter: a list of CJK names still has its line ends (`\r\n` = 0D 00 0A 00); UTF-8
    // text has a NUL only as stray padding.
    ascii_like * 4 >= pairs.len()
}

fn utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16_lossy(&units).replace('\0', "")
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "")
}

/// The lines of `text`, trimmed of spaces at both ends, empty ones left out. A CR ends a line as
/// an LF does: wsl.exe ends its lines with CRLF, and no name holds a CR.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// The distribution names `wsl.exe --list --quiet` (`--running`) prints, one a line, in the
/// order given. A name may hold spaces and any character but a line end.
pub fn parse_names(bytes: &[u8]) -> Vec<String> {
    let text = decode(bytes);
    let mut names: Vec<String> = Vec::new();
    for line in lines(&text) {
        if !names.iter().any(|n| n == line) {
            names.push(line.to_owned());
        }
    }
    names
}

/// One line of `wsl.exe --list --verbose`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedDistro {
    /// Its name.
    pub name: String,
    /// Its state as wsl.exe words it (`Running`, `Stopped`; translated in other languages).
    pub state: String,
    /// 1 or 2.
    pub version: u8,
    /// The default distribution (marked `*`).
    pub default: bool,
}

/// The table `wsl.exe --list --verbose` prints:
///
/// ```text
///   NAME            STATE           VERSION
/// * Ubuntu-22.04    Running         2
///   Debian          Stopped         1
/// ```
///
/// The columns are read from the right (the version, then the state), so that a name may hold
/// spaces. The header, in whichever language, has no version number and is skipped.
pub fn parse_verbose(bytes: &[u8]) -> Vec<ListedDistro> {
    let text = decode(bytes);
    lines(&text)
        .filter_map(|line| {
            let (default, line) = match line.strip_prefix('*') {
                Some(rest) => (true, rest.trim_start()),
                None => (false, line),
            };
            let (rest, version) = line.rsplit_once(char::is_whitespace)?;
            let version: u8 = version.parse().ok().filter(|v| (1..=2).contains(v))?;
            let (name, state) = rest.trim_end().rsplit_once(char::is_whitespace)?;
            let name = name.trim();
            (!name.is_empty()).then(|| ListedDistro {
                name: name.to_owned(),
                state: state.to_owned(),
                version,
                default,
            })
        })
        .collect()
}

/// The first non-empty line of what a failed `wsl.exe` call printed (stdout first: wsl.exe
/// writes its errors there), for a one-line message; `None` when it printed nothing.
pub fn first_line(stdout: &[u8], stderr: &[u8]) -> Option<String> {
    [stdout, stderr].into_iter().find_map(|bytes| {
        let text = decode(bytes);
        let first = lines(&text).next().map(str::to_owned);
        first
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    /// Found by fuzzing: an odd byte after a UTF-16 CR made its LF part of another character,
    /// and the CR stayed in the name.
    #[test]
    fn a_lone_cr_ends_a_name() {
        let bytes = b"U\0b\0u\0n\0t\0w\0\r\0\nT";
        assert_eq!(parse_names(bytes), ["Ubuntw", "\u{540a}"]);
        assert_eq!(parse_names(b"a\rb\r\n"), ["a", "b"]);
    }

    #[test]
    fn utf16_with_and_without_bom_and_utf8_decode_alike() {
        let text = "Ubuntu 22.04 Ä\r\nDebian\r\n";
        assert_eq!(decode(&utf16(text, true)), text);
        assert_eq!(decode(&utf16(text, false)), text);
        assert_eq!(decode(text.as_bytes()), text);
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend_from_slice(text.as_bytes());
        assert_eq!(decode(&bom8), text);
        assert_eq!(decode(b""), "");
    }

    #[test]
    fn trailing_nuls_and_an_odd_byte_are_dropped() {
        let mut bytes = utf16("Debian\r\n", false);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0]);
        assert_eq!(decode(&bytes), "Debian\r\n");
        assert_eq!(decode(b"Debian\0\0\n"), "Debian\n");
    }

    #[test]
    fn running_names_keep_spaces_and_non_ascii() {
        let listing = "Ubuntu 22.04 Ä\r\n  Debian\r\n\r\nДебиан тест\r\n\0";
        let expected = ["Ubuntu 22.04 Ä", "Debian", "Дебиан тест"];
        assert_eq!(parse_names(&utf16(listing, false)), expected);
        assert_eq!(parse_names(&utf16(listing, true)), expected);
        assert_eq!(parse_names(listing.as_bytes()), expected);
        // A list of only non-Latin names is still recognised by its line ends.
        assert_eq!(
            parse_names(&utf16("日本語\r\n中文\r\n", false)),
            ["日本語", "中文"]
        );
        assert!(parse_names(&utf16("\r\n", false)).is_empty());
        assert_eq!(parse_names(b"Debian\nDebian\n"), ["Debian"]);
    }

    #[test]
    fn the_verbose_table_reads_names_with_spaces() {
        let table = "  NAME              STATE           VERSION\r\n\
                     * Ubuntu 22.04 Ä    Running         2\r\n  \
                     Debian            Stopped         1\r\n  \
                     docker-desktop    Running         2\r\n";
        let parsed = parse_verbose(&utf16(table, false));
        assert_eq!(
            parsed,
            [
                ListedDistro {
                    name: "Ubuntu 22.04 Ä".into(),
                    state: "Running".into(),
                    version: 2,
                    default: true
                },
                ListedDistro {
                    name: "Debian".into(),
                    state: "Stopped".into(),
                    version: 1,
                    default: false
                },
                ListedDistro {
                    name: "docker-desktop".into(),
                    state: "Running".into(),
                    version: 2,
                    default: false
                },
            ]
        );
        assert_eq!(parse_verbose(table.as_bytes()), parsed);
        assert!(parse_verbose(b"  NAME STATE VERSION\n").is_empty());
        assert!(parse_verbose(b"Debian 3\n* 2\nx Running 9\n").is_empty());
    }

    #[test]
    fn the_first_line_of_a_failure() {
        let out = utf16(
            "\r\nThere is no distribution with the supplied name.\r\n",
            true,
        );
        assert_eq!(
            first_line(&out, b"").as_deref(),
            Some("There is no distribution with the supplied name.")
        );
        assert_eq!(
            first_line(b"", b"sh: 1: oops\n").as_deref(),
            Some("sh: 1: oops")
        );
        assert_eq!(first_line(b"\n", b""), None);
    }

    proptest::proptest! {
        #[test]
        fn no_output_panics_the_parsers(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse_names(&bytes);
            let _ = parse_verbose(&bytes);
            let _ = first_line(&bytes, &bytes);
        }

        #[test]
        fn any_name_list_round_trips_through_utf16(names in proptest::collection::vec("[^\r\n\u{0}\u{feff}]{1,20}", 1..5)) {
            let names: Vec<String> = names.iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
            let mut unique: Vec<String> = Vec::new();
            for n in &names { if !unique.contains(n) { unique.push(n.clone()); } }
            let listing: String = unique.iter().map(|n| format!("{n}\r\n")).collect();
            proptest::prop_assert_eq!(parse_names(&utf16(&listing, true)), unique.clone());
            proptest::prop_assert_eq!(parse_names(listing.as_bytes()), unique);
        }
    }
}
