// Small POSIX helpers that Swift's Glibc module does not expose (renameat2, extended
// attributes). Used by LensIO's output safety: swapping a finished output into place in one
// step and marking the files BatteryLens wrote so that a later run may replace them.
#ifndef LENS_SYSTEM_H
#define LENS_SYSTEM_H
#include <stddef.h>
#include <sys/types.h>

/// Atomically exchanges two existing paths (renameat2 with RENAME_EXCHANGE). Returns 0, or -1
/// with errno set (EINVAL or ENOSYS where the file system or kernel cannot exchange).
int lens_rename_exchange(const char *first, const char *second);

/// Sets the extended attribute `name` of `path` (not following a final symbolic link).
/// Returns 0, or -1 with errno set (ENOTSUP where the file system has no user attributes).
int lens_set_attribute(const char *path, const char *name, const void *value, size_t size);

/// Reads the extended attribute `name` of `path` into `buffer`; returns its size, or -1.
ssize_t lens_get_attribute(const char *path, const char *name, void *buffer, size_t size);

/// Restarts the program (execv of /proc/self/exe with the same arguments) once with glibc's
/// tunable glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES, so that malloc asks for transparent
/// huge pages (madvise) where the kernel offers them: a solver's fresh arrays then fault in
/// 2 MiB pages instead of 4 KiB ones. Returns (and the program goes on unchanged) when the
/// tunable is already set, when BATTERYLENS_HUGE_PAGES=0, when the kernel's THP mode is
/// "never" or absent, when not on glibc, or when the exec fails.
void lens_prefer_huge_pages(char *const argv[]);

#endif

/// A guard around calls into C libraries that may fault on corrupt input (libhdf5 on a damaged
/// file): while it is entered on a thread, SIGSEGV or SIGBUS on that thread prints `message`
/// (one line) to stderr and exits with status 1 instead of crashing. Outside the guard the
/// previous handlers (the Swift runtime's crash reporter) run as before.
void lens_fault_guard_enter(const char *message);
void lens_fault_guard_leave(void);
