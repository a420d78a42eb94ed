//! SPEC §7.4 and §7.6 as the mount enforces them: a file never grows past
//! the largest size its stored form can have (EFBIG), and a grow takes the
//! backing space it needs before it writes anything (ENOSPC), so a full
//! disk refuses the request and leaves the file as it was instead of
//! failing halfway through encrypted zeros.

use crate::backing::Res;
use fusecry_format::Layout;
use fuser::Errno;
use rustix::fs::FallocateFlags;
use std::fs::File;

/// EFBIG when a file of `layout` cannot be `end` bytes long (SPEC §7.4).
pub fn check_size(layout: &Layout, end: u64) -> Res<()> {
    if end > layout.max_size() {
        return Err(Errno::EFBIG);
    }
    Ok(())
}

/// Reserves the stored bytes `[from, to)` of `file` without changing its
/// length (fallocate with FALLOC_FL_KEEP_SIZE, as gocryptfs does), so that
/// the chunks and trailer written there next cannot run out of space.
///
/// A backing filesystem without fallocate is used without the reservation,
/// but a grow larger than its free space is still refused at once.
pub fn reserve(file: &File, from: u64, to: u64) -> Res<()> {
    if to <= from {
        return Ok(());
    }
    let len = to - from;
    match rustix::fs::fallocate(file, FallocateFlags::KEEP_SIZE, from, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
            free_space_for(file, len)
        }
        Err(e) => Err(Errno::from_i32(e.raw_os_error())),
    }
}

/// ENOSPC when the backing filesystem has fewer than `len` free bytes (the
/// fallback where nothing can be reserved; the blocks root may use count).
fn free_space_for(file: &File, len: u64) -> Res<()> {
    let Ok(st) = rustix::fs::fstatvfs(file) else {
        return Ok(());
    };
    let free = st.f_bfree.saturating_mul(st.f_frsize);
    if len > free {
        return Err(Errno::ENOSPC);
    }
    Ok(())
}
