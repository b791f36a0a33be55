//! What a memdefrag service is registered as, and how its recorded options are read back.
//!
//! The watch options are recorded in the service's command line (its "path to executable"):
//! `"…\memdefrag.exe" service run --name NAME [WATCH OPTIONS]`. Administrators see them where
//! they look (services.msc, `sc qc`), and the service parses them exactly as `watch` does.

use std::path::{Path, PathBuf};

use crate::error::ServiceError;

/// The name of the service unless `--name` says otherwise.
pub const DEFAULT_NAME: &str = "memdefrag";

/// The longest service name accepted (the SCM allows 256; an event source name is a registry
/// key, and a log file name is a file name).
const MAX_NAME_LEN: usize = 64;

/// A service to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The service name (also the event source and the log file's name).
    pub name: String,
    /// What services.msc shows.
    pub display_name: String,
    /// What services.msc shows under the name.
    pub description: String,
    /// The memdefrag executable the service runs.
    pub executable: PathBuf,
    /// Its arguments: `service run --name NAME` and the watch options.
    pub arguments: Vec<String>,
}

impl ServiceSpec {
    /// The service `name` running `executable` with `watch_options` (as `memdefrag watch`
    /// takes them). The name is checked; the options are the caller's to validate.
    pub fn new(
        name: &str,
        executable: PathBuf,
        watch_options: &[String],
    ) -> Result<ServiceSpec, ServiceError> {
        validate_name(name)?;
        let mut arguments = vec!["service".into(), "run".into(), "--name".into(), name.into()];
        arguments.extend(watch_options.iter().cloned());
        Ok(ServiceSpec {
            name: name.to_owned(),
            display_name: display_name(name),
            description: "Frees memory when it runs short, by asking Windows to purge its memory \
                          lists (memdefrag watch). Its actions are logged in the Application event \
                          log and in %ProgramData%\\memdefrag."
                .into(),
            executable,
            arguments,
        })
    }
}

/// Checks a service name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn validate_name(name: &str) -> Result<(), ServiceError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ServiceError::InvalidName(name.to_owned()))
    }
}

/// What services.msc shows for the service `name`.
pub fn display_name(name: &str) -> String {
    if name == DEFAULT_NAME {
        "memdefrag memory watcher".into()
    } else {
        format!("memdefrag memory watcher ({name})")
    }
}

/// The action log of the service `name` under `program_data` (`%ProgramData%`):
/// `memdefrag\watch.log`, or `memdefrag\watch-NAME.log` for another instance.
pub fn log_path(program_data: &Path, name: &str) -> PathBuf {
    let file = if name == DEFAULT_NAME {
        "watch.log".to_owned()
    } else {
        format!("watch-{name}.log")
    };
    program_data.join("memdefrag").join(file)
}

/// The watch options recorded in a service's command line, or `None` when the command line is
/// not one memdefrag registered (`… service run --name NAME [OPTIONS]`).
pub fn recorded_options(command_line: &str) -> Option<Vec<String>> {
    let args = split_command_line(command_line);
    let rest = args.get(1..)?;
    match rest {
        [service, run, name_flag, _name, options @ ..]
            if service == "service" && run == "run" && name_flag == "--name" =>
        {
            Some(options.to_vec())
        }
        _ => None,
    }
}

/// Splits a Windows command line into its arguments as `CommandLineToArgvW` does: the program
/// name ends at its closing quote or at the first space; after it, `2n` backslashes before a
/// quote are `n` backslashes and the quote opens or closes a quoted part, `2n + 1` are `n` and a
/// literal quote, and other backslashes are literal.
pub fn split_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    // The program name: no escapes.
    let mut program = String::new();
    if chars.peek() == Some(&'"') {
        chars.next();
        for c in chars.by_ref() {
            if c == '"' {
                break;
            }
            program.push(c);
        }
    } else {
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\t' {
                break;
            }
            program.push(c);
            chars.next();
        }
    }
    args.push(program);

    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek().is_none() {
            return args;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            match c {
                '\\' => {
                    let mut backslashes = 0;
                    while chars.peek() == Some(&'\\') {
                        chars.next();
                        backslashes += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        arg.extend(std::iter::repeat_n('\\', backslashes / 2));
                        if backslashes % 2 == 1 {
                            arg.push('"');
                            chars.next();
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', backslashes));
                    }
                }
                '"' => {
                    chars.next();
                    // Inside quotes, "" is a literal quote.
                    if quoted && chars.peek() == Some(&'"') {
                        arg.push('"');
                        chars.next();
                    } else {
                        quoted = !quoted;
                    }
                }
                ' ' | '\t' if !quoted => break,
                _ => {
                    arg.push(c);
                    chars.next();
                }
            }
        }
        args.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quotes one argument as the MSVC runtime (and the windows-service crate) do.
    fn quote(arg: &str) -> String {
        if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '"']) {
            return arg.to_owned();
        }
        let mut out = String::from('"');
        let mut backslashes = 0;
        for c in arg.chars() {
            match c {
                '\\' => backslashes += 1,
                '"' => {
                    out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                    out.push('"');
                    backslashes = 0;
                }
                _ => {
                    out.extend(std::iter::repeat_n('\\', backslashes));
                    out.push(c);
                    backslashes = 0;
                }
            }
        }
        out.extend(std::iter::repeat_n('\\', backslashes * 2));
        out.push('"');
        out
    }

    fn command_line(spec: &ServiceSpec) -> String {
        let mut line = quote(spec.executable.to_str().unwrap());
        for arg in &spec.arguments {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        line
    }

    #[test]
    fn recorded_options_read_back_as_given() {
        let options: Vec<String> = ["--every", "1s", "--ops", "standby", "--free-below", "10%"]
            .map(String::from)
            .to_vec();
        let spec = ServiceSpec::new(
            "memdefrag",
            PathBuf::from(r"C:\Program Files\memdefrag\memdefrag.exe"),
            &options,
        )
        .unwrap();
        let line = command_line(&spec);
        assert_eq!(
            line,
            r#""C:\Program Files\memdefrag\memdefrag.exe" service run --name memdefrag --every 1s --ops standby --free-below 10%"#
        );
        assert_eq!(recorded_options(&line), Some(options));
        assert_eq!(spec.display_name, "memdefrag memory watcher");
    }

    #[test]
    fn arguments_with_spaces_quotes_and_backslashes_survive() {
        let odd = [
            "plain",
            "two words",
            r#"a "quoted" word"#,
            r"C:\dir\",
            r#"back\"slash"#,
            "",
            r"\\server\share\",
        ];
        let line = std::iter::once(quote(r"C:\x\memdefrag.exe"))
            .chain(odd.iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        let args = split_command_line(&line);
        assert_eq!(args[0], r"C:\x\memdefrag.exe");
        assert_eq!(&args[1..], &odd);
    }

    #[test]
    fn the_program_name_takes_no_escapes() {
        assert_eq!(
            split_command_line(r"C:\a\b.exe x\\y"),
            [r"C:\a\b.exe", r"x\\y"]
        );
        assert_eq!(split_command_line(r#""C:\a b\c.exe""#), [r"C:\a b\c.exe"]);
    }

    #[test]
    fn a_command_line_memdefrag_did_not_write_has_no_options() {
        assert_eq!(
            recorded_options(r"C:\x\memdefrag.exe watch --every 1s"),
            None
        );
        assert_eq!(recorded_options(r"C:\x\other.exe"), None);
        assert_eq!(
            recorded_options(r"C:\x\memdefrag.exe service run --name n"),
            Some(Vec::new())
        );
    }

    #[test]
    fn names_are_checked() {
        for good in ["memdefrag", "memdefrag-2", "a.b_c", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "two words", r"a\b", "é", &"x".repeat(65), "a/b"] {
            assert!(
                matches!(validate_name(bad), Err(ServiceError::InvalidName(_))),
                "{bad}"
            );
        }
        assert_eq!(display_name("night"), "memdefrag memory watcher (night)");
    }

    #[test]
    fn each_instance_has_its_own_log() {
        let data = Path::new("/pd");
        assert_eq!(
            log_path(data, "memdefrag"),
            Path::new("/pd/memdefrag/watch.log")
        );
        assert_eq!(
            log_path(data, "night"),
            Path::new("/pd/memdefrag/watch-night.log")
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            /// A command line read back from the registry is outside input: any text is an
            /// answer (or not ours), never a panic.
            #[test]
            fn any_command_line_is_read_without_a_panic(
                s in prop_oneof![any::<String>(), r#"("[^"]{0,12}"|[a-z\\ -]{0,12}){0,8}"#]
            ) {
                let _ = recorded_options(&s);
            }
        }
    }
}
