/* Test payload launcher (static): exec modes the busybox image cannot do by itself.
 *   drifttool try PATH      execve(PATH); on failure print errno=N (S19)
 *   drifttool del PATH      open, unlink, execveat(fd, "", AT_EMPTY_PATH) (S12, drift-deleted)
 *   drifttool memfd PATH    copy PATH into a memfd and fexecve it (S11, fileless)
 * The exec'd program gets argv[0] = "true" (busybox dispatches on it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv, char **envp) {
    if (argc < 3) return 2;
    char *args[] = {"true", NULL};
    if (strcmp(argv[1], "try") == 0) {
        execve(argv[2], args, envp);
    } else if (strcmp(argv[1], "del") == 0) {
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 3;
        unlink(argv[2]);
        syscall(SYS_execveat, fd, "", args, envp, AT_EMPTY_PATH);
    } else if (strcmp(argv[1], "memfd") == 0) {
        int src = open(argv[2], O_RDONLY);
        struct stat st;
        if (src < 0 || fstat(src, &st) < 0) return 3;
        int fd = memfd_create("payload", 0);
        if (fd < 0 || sendfile(fd, src, NULL, st.st_size) != st.st_size) return 4;
        fexecve(fd, args, envp);
    } else {
        return 2;
    }
    printf("errno=%d\n", errno);
    return 1;
}
