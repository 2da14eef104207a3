/* mamori simulate: one small static program, several names (built with gcc -static).
 *   php-fpm CMD          runs `sh -c CMD` as a child and waits: the shell's parent is "php-fpm",
 *                        as under a web shell.
 *   <any> --del PATH     open PATH, unlink it, execveat the open fd (exe "(deleted)").
 *   <any> --mark PATH    create PATH (a marker that the program really ran).
 *   <any>                print one line and exit 0 (nmap, xmrig, tool: only the exec matters).
 * FLAVOR differs between the victim's build and the attacker's, so the attacker's copies have
 * content found nowhere in the victim image. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FLAVOR
#define FLAVOR "victim"
#endif

int main(int argc, char **argv, char **envp) {
    char *name = basename(argv[0]);
    if (strcmp(name, "php-fpm") == 0 && argc == 2) {
        pid_t pid = fork();
        if (pid < 0) return 127;
        if (pid == 0) {
            execle("/bin/sh", "sh", "-c", argv[1], (char *)NULL, envp);
            _exit(127);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) < 0) return 127;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    }
    if (argc == 3 && strcmp(argv[1], "--del") == 0) {
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 3;
        unlink(argv[2]);
        char *args[] = {argv[2], NULL};
        syscall(SYS_execveat, fd, "", args, envp, AT_EMPTY_PATH);
        perror("execveat");
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "--mark") == 0) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return 4;
        close(fd);
    }
    printf("%s: mamori simulation stand-in (" FLAVOR "), does nothing\n", name);
    return 0;
}
