#!/usr/bin/python3
"""A FUSE filesystem whose writes stall on demand, for the stuck-filesystem tests.

    stallfs.py BACKING_DIR MOUNTPOINT STALL_FILE

MOUNTPOINT shows the files of BACKING_DIR (flat: no subdirectories). While STALL_FILE exists,
every write waits; when it is removed, the waiting writes go through to BACKING_DIR. An ext4
image on a loop device over a file here is a disk whose writeback stalls: a flush of that ext4
hangs in the kernel until the stall is released, as with a dead NFS server or a stuck device.
"""
import errno
import os
import sys
import time

from fusepy import FUSE, FuseOSError, Operations


class StallFS(Operations):
    def __init__(self, backing, stall_file):
        self.backing = backing
        self.stall_file = stall_file

    def _path(self, path):
        name = path.lstrip("/")
        if "/" in name:
            raise FuseOSError(errno.ENOENT)
        return os.path.join(self.backing, name)

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._path(path))
        except OSError as e:
            raise FuseOSError(e.errno)
        return {key: getattr(st, key) for key in (
            "st_mode", "st_nlink", "st_uid", "st_gid", "st_size",
            "st_atime", "st_mtime", "st_ctime")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self.backing)

    def statfs(self, path):
        st = os.statvfs(self.backing)
        return {key: getattr(st, key) for key in (
            "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
            "f_files", "f_ffree", "f_favail", "f_namemax")}

    def open(self, path, flags):
        return os.open(self._path(path), flags & ~os.O_EXCL)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_RDWR | os.O_CREAT, mode)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        while os.path.exists(self.stall_file):
            time.sleep(0.02)
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        os.truncate(self._path(path), length)

    def unlink(self, path):
        os.unlink(self._path(path))

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        os.fsync(fh)
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0


if __name__ == "__main__":
    backing, mountpoint, stall_file = sys.argv[1:4]
    FUSE(StallFS(backing, stall_file), mountpoint, foreground=True, nothreads=False)
