//! The few registry keys the service needs: its event log source (written at install, removed
//! at uninstall) and where `%ProgramData%` is.
//!
//! # References
//! - [RegCreateKeyExW](https://learn.microsoft.com/windows/win32/api/winreg/nf-winreg-regcreatekeyexw),
//!   [RegSetValueExW](https://learn.microsoft.com/windows/win32/api/winreg/nf-winreg-regsetvalueexw),
//!   [RegDeleteTreeW](https://learn.microsoft.com/windows/win32/api/winreg/nf-winreg-regdeletetreew),
//!   [RegGetValueW](https://learn.microsoft.com/windows/win32/api/winreg/nf-winreg-reggetvaluew)

use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_SUCCESS};
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegCreateKeyExW, RegDeleteKeyW, RegDeleteTreeW, RegGetValueW, RegSetValueExW,
    HKEY, HKEY_LOCAL_MACHINE, KEY_SET_VALUE, REG_DWORD, REG_EXPAND_SZ, REG_OPTION_NON_VOLATILE,
    REG_VALUE_TYPE, RRF_RT_REG_SZ,
};

use crate::manage::ScmError;

/// A NUL-terminated UTF-16 copy of `s`.
pub(super) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

fn error(code: u32) -> ScmError {
    match code {
        ERROR_ACCESS_DENIED => ScmError::AccessDenied,
        _ => ScmError::Os {
            code,
            message: std::io::Error::from_raw_os_error(code as i32).to_string(),
        },
    }
}

/// An open key of HKEY_LOCAL_MACHINE, closed on drop.
pub(super) struct Key(HKEY);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the key was opened by RegCreateKeyExW and is closed only here.
        unsafe { RegCloseKey(self.0) };
    }
}

impl Key {
    /// Creates (or opens) `path` under HKEY_LOCAL_MACHINE for writing.
    pub(super) fn create(path: &str) -> Result<Key, ScmError> {
        let path = wide(path);
        let mut key: HKEY = std::ptr::null_mut();
        // SAFETY: a NUL-terminated subkey path that outlives the call, no class, no security
        // attributes, a valid out pointer for the key, and none for the disposition.
        let status = unsafe {
            RegCreateKeyExW(
                HKEY_LOCAL_MACHINE,
                path.as_ptr(),
                0,
                std::ptr::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_SET_VALUE,
                std::ptr::null(),
                &raw mut key,
                std::ptr::null_mut(),
            )
        };
        if status != ERROR_SUCCESS {
            return Err(error(status));
        }
        Ok(Key(key))
    }

    fn set(&self, name: &str, kind: REG_VALUE_TYPE, data: &[u8]) -> Result<(), ScmError> {
        let name = wide(name);
        let len = u32::try_from(data.len()).expect("a small value");
        // SAFETY: the key is open for KEY_SET_VALUE; the name is NUL-terminated; `data` has the
        // length passed and the layout `kind` names.
        let status = unsafe { RegSetValueExW(self.0, name.as_ptr(), 0, kind, data.as_ptr(), len) };
        if status != ERROR_SUCCESS {
            return Err(error(status));
        }
        Ok(())
    }

    /// Sets `name` to a REG_EXPAND_SZ string.
    pub(super) fn set_expand_string(&self, name: &str, value: &str) -> Result<(), ScmError> {
        let bytes: Vec<u8> = wide(value).iter().flat_map(|c| c.to_le_bytes()).collect();
        self.set(name, REG_EXPAND_SZ, &bytes)
    }

    /// Sets `name` to a REG_DWORD.
    pub(super) fn set_u32(&self, name: &str, value: u32) -> Result<(), ScmError> {
        self.set(name, REG_DWORD, &value.to_le_bytes())
    }
}

/// Removes `path` under HKEY_LOCAL_MACHINE with everything in it; one that is not there is not
/// an error.
pub(super) fn delete_tree(path: &str) -> Result<(), ScmError> {
    let path = wide(path);
    // SAFETY: a NUL-terminated subkey path of HKEY_LOCAL_MACHINE that outlives the call.
    match unsafe { RegDeleteTreeW(HKEY_LOCAL_MACHINE, path.as_ptr()) } {
        ERROR_SUCCESS => {}
        ERROR_FILE_NOT_FOUND => return Ok(()),
        code => return Err(error(code)),
    }
    // Whether RegDeleteTreeW removed the key itself or only emptied it, remove it.
    // SAFETY: as above.
    match unsafe { RegDeleteKeyW(HKEY_LOCAL_MACHINE, path.as_ptr()) } {
        ERROR_SUCCESS | ERROR_FILE_NOT_FOUND => Ok(()),
        code => Err(error(code)),
    }
}

/// A string value under HKEY_LOCAL_MACHINE, environment variables expanded.
pub(super) fn read_string(path: &str, name: &str) -> Option<String> {
    let (path, name) = (wide(path), wide(name));
    let mut buf = vec![0u16; 1024];
    let mut size = u32::try_from(buf.len() * 2).expect("a small buffer");
    // SAFETY: NUL-terminated key path and value name that outlive the call; `buf` has `size`
    // bytes; no type is asked for.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            path.as_ptr(),
            name.as_ptr(),
            // A REG_EXPAND_SZ value is expanded and then counts as REG_SZ.
            RRF_RT_REG_SZ,
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            &raw mut size,
        )
    };
    if status != ERROR_SUCCESS {
        return None;
    }
    let len = (size as usize / 2).min(buf.len());
    let text = String::from_utf16_lossy(&buf[..len]);
    Some(text.trim_end_matches('\0').to_owned())
}
