#define _GNU_SOURCE
#include "lens_system.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>

int lens_rename_exchange(const char *first, const char *second) {
#if defined(__linux__) && defined(SYS_renameat2)
    return (int)syscall(SYS_renameat2, AT_FDCWD, first, AT_FDCWD, second, 2 /* RENAME_EXCHANGE */);
#else
    (void)first; (void)second;
    errno = ENOSYS;
    return -1;
#endif
}

int lens_set_attribute(const char *path, const char *name, const void *value, size_t size) {
    return lsetxattr(path, name, value, size, 0);
}

ssize_t lens_get_attribute(const char *path, const char *name, void *buffer, size_t size) {
    return lgetxattr(path, name, buffer, size);
}

static __thread int guard_depth = 0;
static __thread char guard_message[2048];
static struct sigaction previous_segv, previous_bus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void guard_handler(int sig, siginfo_t *info, void *context) {
    if (guard_depth > 0) {
        size_t n = strnlen(guard_message, sizeof guard_message);
        ssize_t ignored = write(2, guard_message, n);
        (void)ignored;
        _exit(1);
    }
    /* Not ours: put the previous handler back; returning re-raises the fault under it. */
    sigaction(sig, sig == SIGSEGV ? &previous_segv : &previous_bus, NULL);
    (void)info; (void)context;
}

static void guard_install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = guard_handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &previous_segv);
    sigaction(SIGBUS, &action, &previous_bus);
}

void lens_fault_guard_enter(const char *message) {
    pthread_once(&guard_once, guard_install);
    if (guard_depth++ == 0) {
        strncpy(guard_message, message, sizeof guard_message - 2);
        guard_message[sizeof guard_message - 2] = 0;
        size_t n = strlen(guard_message);
        guard_message[n] = '\n'; guard_message[n + 1] = 0;
    }
}

void lens_fault_guard_leave(void) {
    if (guard_depth > 0) guard_depth--;
}

#if defined(__GLIBC__)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
void lens_prefer_huge_pages(char *const argv[]) {
    const char *opt = getenv("BATTERYLENS_HUGE_PAGES");
    if (opt && strcmp(opt, "0") == 0) return;
    const char *current = getenv("GLIBC_TUNABLES");
    if (current && strstr(current, "glibc.malloc.hugetlb")) return;
    // The kernel's mode: "always [madvise] never" and the like; nothing to gain under never.
    char mode[128] = {0};
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return;
    size_t got = fread(mode, 1, sizeof mode - 1, f);
    fclose(f);
    mode[got] = 0;
    if (!strstr(mode, "[always]") && !strstr(mode, "[madvise]")) return;
    char value[1024];
    int n = current && *current ? snprintf(value, sizeof value, "%s:glibc.malloc.hugetlb=1", current)
                                : snprintf(value, sizeof value, "glibc.malloc.hugetlb=1");
    if (n <= 0 || (size_t)n >= sizeof value) return;
    if (setenv("GLIBC_TUNABLES", value, 1) != 0) return;
    execv("/proc/self/exe", argv);
    // The exec failed: go on as we are (the tunable stays set, which stops a second try).
}
#else
void lens_prefer_huge_pages(char *const argv[]) { (void)argv; }
#endif
