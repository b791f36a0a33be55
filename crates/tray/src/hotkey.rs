//! The global hotkey, as the settings spell it ("Ctrl+Alt+M"): its modifiers and key, in the
//! values RegisterHotKey takes.
//!
//! # References
//! - [RegisterHotKey](https://learn.microsoft.com/windows/win32/api/winuser/nf-winuser-registerhotkey),
//!   [Virtual-key codes](https://learn.microsoft.com/windows/win32/inputdev/virtual-key-codes)

/// MOD_ALT, MOD_CONTROL, MOD_SHIFT, MOD_WIN (winuser.h).
pub const MOD_ALT: u32 = 0x1;
/// Ctrl.
pub const MOD_CONTROL: u32 = 0x2;
/// Shift.
pub const MOD_SHIFT: u32 = 0x4;
/// The Windows key.
pub const MOD_WIN: u32 = 0x8;

/// A parsed hotkey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hotkey {
    /// MOD_* flags.
    pub modifiers: u32,
    /// The virtual-key code.
    pub key: u32,
}

/// Parses "Ctrl+Alt+M", "Win+Shift+F9" and the like: at least one modifier and one key (a
/// letter, a digit or F1 to F24).
pub fn parse(text: &str) -> Result<Hotkey, String> {
    let mut modifiers = 0;
    let mut key = None;
    for part in text.split('+').map(str::trim) {
        match part.to_ascii_lowercase().as_str() {
            "ctrl" | "control" => modifiers |= MOD_CONTROL,
            "alt" => modifiers |= MOD_ALT,
            "shift" => modifiers |= MOD_SHIFT,
            "win" | "windows" => modifiers |= MOD_WIN,
            other if key.is_some() => return Err(format!("'{text}' has two keys ('{other}')")),
            other => key = Some(key_code(other).ok_or_else(|| format!("'{part}' is not a key"))?),
        }
    }
    let key = key.ok_or_else(|| format!("'{text}' has no key"))?;
    if modifiers == 0 {
        return Err(format!("'{text}' needs Ctrl, Alt, Shift or Win"));
    }
    Ok(Hotkey { modifiers, key })
}

fn key_code(name: &str) -> Option<u32> {
    let bytes = name.as_bytes();
    match bytes {
        [c] if c.is_ascii_alphanumeric() => Some(u32::from(c.to_ascii_uppercase())),
        [b'f', rest @ ..] => {
            let n: u32 = std::str::from_utf8(rest).ok()?.parse().ok()?;
            // VK_F1 is 0x70.
            (1..=24).contains(&n).then_some(0x6F + n)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotkeys_parse_into_register_hotkey_values() {
        assert_eq!(
            parse("Ctrl+Alt+M"),
            Ok(Hotkey {
                modifiers: MOD_CONTROL | MOD_ALT,
                key: u32::from(b'M')
            })
        );
        assert_eq!(
            parse("win + shift + f9"),
            Ok(Hotkey {
                modifiers: MOD_WIN | MOD_SHIFT,
                key: 0x78
            })
        );
        assert_eq!(parse("Alt+7").unwrap().key, u32::from(b'7'));
        assert!(parse("M").unwrap_err().contains("needs Ctrl"));
        assert!(parse("Ctrl+Alt").unwrap_err().contains("no key"));
        assert!(parse("Ctrl+M+N").unwrap_err().contains("two keys"));
        assert!(parse("Ctrl+F25").is_err());
        assert!(parse("Ctrl+Space").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            #[test]
            fn any_hotkey_text_is_a_hotkey_or_an_error(
                s in prop_oneof![any::<String>(), "([A-Za-z0-9]{0,6}[+ -]?){0,5}"]
            ) {
                let _ = parse(&s);
            }
        }
    }
}
