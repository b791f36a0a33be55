//! An [`Image`] as an icon handle: a 32-bit colour bitmap with its alpha channel, and a mask.
//!
//! # References
//! - [CreateIconIndirect](https://learn.microsoft.com/windows/win32/api/winuser/nf-winuser-createiconindirect),
//!   [CreateDIBSection](https://learn.microsoft.com/windows/win32/api/wingdi/nf-wingdi-createdibsection)

use memdefrag_tray::icon::Image;
use windows_sys::Win32::Graphics::Gdi::{
    CreateBitmap, CreateDIBSection, DeleteObject, BITMAPINFO, BITMAPINFOHEADER, BI_RGB,
    DIB_RGB_COLORS,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateIconIndirect, DestroyIcon, HICON, ICONINFO,
};

/// An icon handle, destroyed on drop.
pub(crate) struct Icon(pub(crate) HICON);

impl Drop for Icon {
    fn drop(&mut self) {
        // SAFETY: the icon came from CreateIconIndirect and is destroyed only here.
        unsafe { DestroyIcon(self.0) };
    }
}

/// The icon for `image`, or `None` if GDI refused.
pub(crate) fn icon(image: &Image) -> Option<Icon> {
    let size = i32::try_from(image.size).ok()?;
    // SAFETY: BITMAPINFO is plain data; all-zero is valid and every field used is set below.
    let mut info: BITMAPINFO = unsafe { std::mem::zeroed() };
    info.bmiHeader = BITMAPINFOHEADER {
        biSize: size_of::<BITMAPINFOHEADER>() as u32,
        biWidth: size,
        // Negative: rows top to bottom, as the image has them.
        biHeight: -size,
        biPlanes: 1,
        biBitCount: 32,
        biCompression: BI_RGB,
        ..info.bmiHeader
    };
    let mut bits: *mut core::ffi::c_void = std::ptr::null_mut();
    // SAFETY: a valid BITMAPINFO for a 32-bit top-down DIB; `bits` receives the pixel buffer;
    // no device context (DIB_RGB_COLORS needs none) and no file section.
    let color = unsafe {
        CreateDIBSection(
            std::ptr::null_mut(),
            &raw const info,
            DIB_RGB_COLORS,
            &raw mut bits,
            std::ptr::null_mut(),
            0,
        )
    };
    if color.is_null() || bits.is_null() {
        return None;
    }
    // BGRA, premultiplied as Windows expects for icons with alpha.
    let pixels: Vec<u8> = image
        .rgba
        .chunks_exact(4)
        .flat_map(|p| {
            let a = u16::from(p[3]);
            let premultiply = |c: u8| ((u16::from(c) * a + 127) / 255) as u8;
            [
                premultiply(p[2]),
                premultiply(p[1]),
                premultiply(p[0]),
                p[3],
            ]
        })
        .collect();
    // SAFETY: the DIB section holds size*size 32-bit pixels, exactly `pixels.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(pixels.as_ptr(), bits.cast::<u8>(), pixels.len()) };
    // A monochrome mask of zeros: the alpha channel decides.
    let mask_bytes = vec![0u8; (image.size.div_ceil(16) * 2) * image.size];
    // SAFETY: a 1-bit bitmap whose rows are WORD-aligned, as `mask_bytes` is laid out.
    let mask = unsafe { CreateBitmap(size, size, 1, 1, mask_bytes.as_ptr().cast()) };
    let icon_info = ICONINFO {
        fIcon: 1,
        xHotspot: 0,
        yHotspot: 0,
        hbmMask: mask,
        hbmColor: color,
    };
    // SAFETY: both bitmaps are valid; CreateIconIndirect copies them.
    let handle = unsafe { CreateIconIndirect(&raw const icon_info) };
    // SAFETY: the bitmaps were copied into the icon (or the call failed); they are ours to free.
    unsafe {
        DeleteObject(color);
        DeleteObject(mask);
    }
    (!handle.is_null()).then_some(Icon(handle))
}
