//! Flushing the buffers of every volume.
//!
//! # References
//! - [FindFirstVolumeW](https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-findfirstvolumew),
//!   [GetVolumePathNamesForVolumeNameW](https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getvolumepathnamesforvolumenamew)
//! - [FlushFileBuffers](https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-flushfilebuffers)

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_MORE_DATA, ERROR_NO_MORE_FILES, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FindFirstVolumeW, FindNextVolumeW, FindVolumeClose, FlushFileBuffers,
    GetVolumePathNamesForVolumeNameW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
};

use super::text::{from_wide, last_error};
use crate::platform::windows::api::VolumeFlush;

/// A volume search handle from FindFirstVolumeW, closed on drop.
struct VolumeSearch(HANDLE);

impl Drop for VolumeSearch {
    fn drop(&mut self) {
        // SAFETY: the handle came from a successful FindFirstVolumeW and is closed only here.
        unsafe { FindVolumeClose(self.0) };
    }
}

/// Room for a volume GUID path (`\\?\Volume{GUID}\`, 49 characters) with margin.
const VOLUME_NAME_LEN: usize = 64;

/// Where the volume `name` (with its trailing backslash) is mounted: drive letters and folders.
fn mount_points(name: &[u16]) -> Vec<String> {
    let mut buf = vec![0u16; 1024];
    loop {
        let mut needed = 0u32;
        // SAFETY: `name` is NUL-terminated; `buf` has the length passed; `needed` is valid.
        let ok = unsafe {
            GetVolumePathNamesForVolumeNameW(
                name.as_ptr(),
                buf.as_mut_ptr(),
                buf.len() as u32,
                &raw mut needed,
            )
        };
        if ok != 0 {
            break;
        }
        // SAFETY: GetLastError only reads this thread's last-error value.
        if unsafe { GetLastError() } != ERROR_MORE_DATA || needed as usize <= buf.len() {
            return Vec::new();
        }
        buf.resize(needed as usize, 0);
    }
    // A list of NUL-terminated strings ending with an empty one.
    buf.split(|&c| c == 0)
        .take_while(|s| !s.is_empty())
        .map(String::from_utf16_lossy)
        .collect()
}

/// Opens the volume `name` (`\\?\Volume{GUID}\`) for writing and flushes its buffers.
fn flush_volume(name: &[u16]) -> Result<(), (u32, String)> {
    // The device path is the name without its trailing backslash (with it, the root folder).
    let mut device: Vec<u16> = name.iter().copied().take_while(|&c| c != 0).collect();
    if device.last() == Some(&u16::from(b'\\')) {
        device.pop();
    }
    device.push(0);
    // SAFETY: `device` is NUL-terminated and outlives the call; no security attributes or
    // template are passed.
    let handle = unsafe {
        CreateFileW(
            device.as_ptr(),
            GENERIC_WRITE,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    // SAFETY: CreateFileW succeeded, so `handle` is an open handle that we now own.
    let volume = unsafe { OwnedHandle::from_raw_handle(handle) };
    // SAFETY: `volume` is open with GENERIC_WRITE, as FlushFileBuffers requires.
    if unsafe { FlushFileBuffers(volume.as_raw_handle()) } == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// Flushes every volume; each one's failure is kept with it, and the walk goes on.
pub(super) fn flush_all() -> Result<Vec<VolumeFlush>, (u32, String)> {
    let mut name = [0u16; VOLUME_NAME_LEN];
    // SAFETY: `name` has the length passed.
    let handle = unsafe { FindFirstVolumeW(name.as_mut_ptr(), name.len() as u32) };
    if handle == INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    let search = VolumeSearch(handle);
    let mut volumes = Vec::new();
    loop {
        volumes.push(VolumeFlush {
            volume: from_wide(&name),
            mount_points: mount_points(&name),
            error: flush_volume(&name).err(),
        });
        // SAFETY: `search` holds an open volume search; `name` has the length passed.
        if unsafe { FindNextVolumeW(search.0, name.as_mut_ptr(), name.len() as u32) } == 0 {
            let (code, msg) = last_error();
            if code != ERROR_NO_MORE_FILES {
                // Keep what was flushed; say where the enumeration stopped.
                volumes.push(VolumeFlush {
                    volume: "(the rest: FindNextVolumeW failed)".into(),
                    mount_points: Vec::new(),
                    error: Some((code, msg)),
                });
            }
            break;
        }
    }
    Ok(volumes)
}
