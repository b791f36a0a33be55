//! The process token: enabling and restoring privileges, and elevation.
//!
//! # References
//! - [AdjustTokenPrivileges](https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-adjusttokenprivileges)
//! - [GetTokenInformation](https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-gettokeninformation)
//!   with TokenElevation

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{GetLastError, ERROR_NOT_ALL_ASSIGNED, HANDLE, LUID};
use windows_sys::Win32::Security::{
    AdjustTokenPrivileges, GetTokenInformation, LookupPrivilegeValueW, TokenElevation,
    LUID_AND_ATTRIBUTES, SE_PRIVILEGE_ENABLED, TOKEN_ADJUST_PRIVILEGES, TOKEN_ELEVATION,
    TOKEN_PRIVILEGES, TOKEN_QUERY,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::nt::ulong_size;
use super::text::{last_error, wide, win32_message};
use crate::platform::windows::api::{Privilege, PrivilegeError, PrivilegeState};

/// This process's token, opened with `access`; closed on drop.
fn process_token(access: u32) -> Result<OwnedHandle, (u32, String)> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing; `token` is a
    // valid out pointer.
    let ok = unsafe { OpenProcessToken(GetCurrentProcess(), access, &raw mut token) };
    if ok == 0 {
        return Err(last_error());
    }
    // SAFETY: OpenProcessToken succeeded, so `token` is an open handle that we now own.
    Ok(unsafe { OwnedHandle::from_raw_handle(token) })
}

/// Sets one privilege on or off; returns whether it was enabled before.
fn adjust(token: &OwnedHandle, privilege: Privilege, enable: bool) -> Result<bool, PrivilegeError> {
    let name = wide(privilege.name());
    let mut luid = LUID {
        LowPart: 0,
        HighPart: 0,
    };
    // SAFETY: `name` is NUL-terminated and outlives the call; `luid` is a valid out pointer.
    if unsafe { LookupPrivilegeValueW(std::ptr::null(), name.as_ptr(), &raw mut luid) } == 0 {
        let (code, msg) = last_error();
        return Err(PrivilegeError::Os(code, msg));
    }
    let new = TOKEN_PRIVILEGES {
        PrivilegeCount: 1,
        Privileges: [LUID_AND_ATTRIBUTES {
            Luid: luid,
            Attributes: if enable { SE_PRIVILEGE_ENABLED } else { 0 },
        }],
    };
    let mut previous = TOKEN_PRIVILEGES {
        PrivilegeCount: 0,
        Privileges: [LUID_AND_ATTRIBUTES {
            Luid: luid,
            Attributes: 0,
        }],
    };
    let mut returned = 0u32;
    // SAFETY: the token is open with TOKEN_ADJUST_PRIVILEGES; `new` and `previous` are live
    // TOKEN_PRIVILEGES with room for the one privilege changed, of the size passed.
    let ok = unsafe {
        AdjustTokenPrivileges(
            token.as_raw_handle(),
            0,
            &raw const new,
            ulong_size::<TOKEN_PRIVILEGES>(),
            &raw mut previous,
            &raw mut returned,
        )
    };
    // AdjustTokenPrivileges succeeds even when it granted nothing; the last error tells.
    // SAFETY: GetLastError only reads this thread's last-error value.
    let code = unsafe { GetLastError() };
    if ok == 0 {
        return Err(PrivilegeError::Os(code, win32_message(code)));
    }
    if code == ERROR_NOT_ALL_ASSIGNED {
        return Err(PrivilegeError::NotAssigned(privilege));
    }
    // PreviousState lists the privilege only if its state changed.
    Ok(previous.PrivilegeCount == 0
        || previous.Privileges[0].Attributes & SE_PRIVILEGE_ENABLED != 0)
}

fn restore(token: &OwnedHandle, state: &PrivilegeState) {
    for &(privilege, was_enabled) in state.iter().rev() {
        if !was_enabled {
            // Nothing more can be done if putting it back fails; the process ends soon after.
            let _ = adjust(token, privilege, false);
        }
    }
}

/// Enables `privileges`, all or none; returns what it changed.
pub(super) fn enable_privileges(
    privileges: &[Privilege],
) -> Result<PrivilegeState, PrivilegeError> {
    let token = process_token(TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY)
        .map_err(|(code, msg)| PrivilegeError::Os(code, msg))?;
    let mut state = PrivilegeState::new();
    for &privilege in privileges {
        match adjust(&token, privilege, true) {
            Ok(was_enabled) => state.push((privilege, was_enabled)),
            Err(e) => {
                restore(&token, &state);
                return Err(e);
            }
        }
    }
    Ok(state)
}

/// Puts back what [`enable_privileges`] changed.
pub(super) fn restore_privileges(state: &PrivilegeState) {
    if let Ok(token) = process_token(TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY) {
        restore(&token, state);
    }
}

/// Whether the process token is elevated (TokenElevation).
pub(super) fn is_elevated() -> bool {
    let Ok(token) = process_token(TOKEN_QUERY) else {
        return false;
    };
    let mut elevation = TOKEN_ELEVATION { TokenIsElevated: 0 };
    let mut returned = 0u32;
    // SAFETY: the token is open with TOKEN_QUERY; `elevation` has the size passed.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenElevation,
            std::ptr::from_mut(&mut elevation).cast(),
            ulong_size::<TOKEN_ELEVATION>(),
            &raw mut returned,
        )
    };
    ok != 0 && elevation.TokenIsElevated != 0
}
