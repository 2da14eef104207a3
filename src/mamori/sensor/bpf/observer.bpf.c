// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only)
/*
 * mamori's eBPF CO-RE observer: exec, connect and watched-path open events on one ring buffer.
 *
 * Only stable tracepoints (`tp/...`): kprobes are absent on the kernels we target and
 * fentry/BPF-LSM loads got EPERM (design 3.4). Every event starts with the same header;
 * userspace parses the layouts with `struct` (src/mamori/sensor/bpf/records.py), so any change
 * here must change the formats there (tests/sensor/test_ebpf_parse.py checks the sizes).
 *
 * Built with `mamori sensor-build-bpf` against this kernel's BTF (vmlinux.h from bpftool).
 * Kept verifier-friendly for clang 14: bounded loops, large structs live in per-CPU scratch
 * maps or directly in the ring buffer reservation.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define KIND_EXEC 1
#define KIND_CONNECT 2
#define KIND_OPEN 3

#define COMM_LEN 16
#define PATH_LEN 256
#define ARGS_LEN 512
#define NAME_LEN 32
#define BASE_LEN 64

#define FLAG_MEMFD 1
#define FLAG_DELETED 2
#define FLAG_LOGINUID 4

#define MATCH_PATH 1
#define MATCH_BASENAME 2
#define MATCH_RELATIVE 3

#define AF_INET 2
#define AF_INET6 10
#define AT_FDCWD -100

struct hdr {
	__u32 kind;
	__u32 tgid;
	__u32 uid;
	__u32 pad;
	__u64 cgroup;
	char comm[COMM_LEN];
}; /* 40 bytes */

struct exec_ev {
	struct hdr h;
	__u32 ppid;
	__u32 loginuid;
	__u64 ino;
	__u32 dev;
	__u32 flags;
	__u16 filename_len;
	__u16 args_len;
	__u32 nlink;
	__u32 tty;	/* as /proc/<pid>/stat's tty_nr; 0: none */
	__u32 vpid;	/* the pid in the process's own pid namespace */
	__u64 start_ns; /* task->start_boottime: /proc's starttime in ns */
	char exe_name[NAME_LEN];
	char filename[PATH_LEN];
	char args[ARGS_LEN];
}; /* 888 bytes */

struct connect_ev {
	struct hdr h;
	__s32 ret;
	__u16 family;
	__u16 port;
	__u16 type;
	__u16 pad;
	__s32 fd;
	__u8 addr[16];
}; /* 72 bytes */

struct open_ev {
	struct hdr h;
	__s32 dfd;
	__u32 flags;
	__u32 mode;
	__u16 path_len;
	__u16 match;
	char path[PATH_LEN];
}; /* 312 bytes */

struct pending_connect {
	__u16 family;
	__u16 port;
	__u16 type;
	__u16 pad;
	__s32 fd;
	__u8 addr[16];
};

struct path_key {
	char s[PATH_LEN];
};

struct base_key {
	char s[BASE_LEN];
};

struct scratch {
	struct path_key path;
	struct base_key base;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* Reservations that failed (ring buffer full): userspace reports them, never silent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending_connect);
} connects SEC(".maps");

/* Filled by userspace at load: full paths and basenames worth an open event. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct path_key);
	__type(value, __u8);
} watched_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct base_key);
	__type(value, __u8);
} watched_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* cgroup v2 ids of host (non-container) cgroups, filled by userspace from its cgroup scan:
 * their execs and connects stay in the kernel unless host events are asked for. A new
 * cgroup is unknown, so a new container's first exec always gets through. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} skip_cgroups SEC(".maps");

/* Observer-only mode: each container process's last exec (name, argv, parent, uid, loginuid,
 * tty, pid in its namespace, start time, cgroup, inode), kept in the kernel, not sent. fanotify reports
 * the exec; when the process is gone before /proc could be read (a short-lived command, or a
 * detect-mode reader that gathers events), userspace looks it up here by pid. */
struct recent_exec {
	__u64 ino;
	__u64 start_ns;
	__u64 cgroup;	/* cgroup v2 id: a volume exec read late still names its container */
	__u32 ppid;
	__u32 uid;
	__u32 loginuid;
	__u32 tty;
	__u32 vpid;
	__u16 args_len;
	__u16 flags;	/* FLAG_LOGINUID: loginuid is known */
	char comm[COMM_LEN];
	char args[ARGS_LEN];
}; /* 576 bytes */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct recent_exec);
} recent_execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct recent_exec);
} recent_zero SEC(".maps");

/* Key 0: report every exec (1) or only memfd and loader execs (0: fanotify reports execs). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} mamori_config SEC(".maps");

static __always_inline int exec_all(void)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&mamori_config, &zero);

	return v && *v;
}

/* Flags for a submitted record. Observer-only mode discards most exec records without a
 * wake-up; the reader's position then stays behind them, and the kernel wakes the reader only
 * for a record at that position: a record submitted after a discard must force it. */
static __always_inline __u64 submit_flags(void)
{
	return exec_all() ? 0 : BPF_RB_FORCE_WAKEUP;
}

static __always_inline int skipped(void)
{
	__u64 cg = bpf_get_current_cgroup_id();

	return bpf_map_lookup_elem(&skip_cgroups, &cg) != NULL;
}

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);

	if (n)
		*n += 1;
}

static __always_inline void fill_hdr(struct hdr *h, __u32 kind)
{
	h->kind = kind;
	h->tgid = bpf_get_current_pid_tgid() >> 32;
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->pad = 0;
	h->cgroup = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline void remember(struct task_struct *task, struct exec_ev *e)
{
	__u32 zero = 0, tgid = e->h.tgid;
	struct recent_exec *r, *blank;
	unsigned long start, end, len;

	r = bpf_map_lookup_elem(&recent_execs, &tgid);
	if (!r) {
		blank = bpf_map_lookup_elem(&recent_zero, &zero);
		if (!blank)
			return;
		bpf_map_update_elem(&recent_execs, &tgid, blank, BPF_ANY);
		r = bpf_map_lookup_elem(&recent_execs, &tgid);
		if (!r)
			return;
	}
	r->ino = e->ino;
	r->start_ns = e->start_ns;
	r->cgroup = e->h.cgroup;
	r->ppid = e->ppid;
	r->uid = e->h.uid;
	r->loginuid = e->loginuid;
	r->tty = e->tty;
	r->vpid = e->vpid;
	r->flags = e->flags & FLAG_LOGINUID;
	__builtin_memcpy(r->comm, e->h.comm, COMM_LEN);
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > ARGS_LEN)
		len = ARGS_LEN;
	r->args_len = 0;
	if (len > 0 && bpf_probe_read_user(r->args, len & (ARGS_LEN - 1) ?: ARGS_LEN,
					   (void *)start) == 0)
		r->args_len = len;
}

/* What /proc/<pid>/stat and status would say, read here so that a process that exits at once
 * (`docker run --rm ... true`) still has them, and no /proc read is needed per exec. */
static __always_inline void fill_proc(struct task_struct *task, struct exec_ev *e)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};
	__u32 major, minor;

	e->tty = 0;
	if (tty) {
		major = BPF_CORE_READ(tty, driver, major);
		minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
		/* new_encode_dev(), as proc_pid_stat() reports it */
		e->tty = (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
	}
	e->vpid = 0;
	if (level < 32 && bpf_probe_read_kernel(&up, sizeof(up), &pid->numbers[level]) == 0)
		e->vpid = up.nr;
	e->start_ns = BPF_CORE_READ(task, start_boottime);
}

SEC("tp/sched/sched_process_exec")
int mamori_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exec_ev *e;
	struct file *exe;
	struct inode *inode;
	unsigned long start, end, len;
	unsigned int off;
	long n;

	if (skipped())
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	fill_hdr(&e->h, KIND_EXEC);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->flags = 0;
	e->loginuid = (__u32)-1;
	if (bpf_core_field_exists(task->loginuid)) {
		e->loginuid = BPF_CORE_READ(task, loginuid.val);
		e->flags |= FLAG_LOGINUID;
	}

	off = ctx->__data_loc_filename & 0xFFFF;
	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
	e->filename_len = n > 0 ? n - 1 : 0;

	exe = BPF_CORE_READ(task, mm, exe_file);
	inode = BPF_CORE_READ(exe, f_inode);
	e->ino = BPF_CORE_READ(inode, i_ino);
	e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->nlink = BPF_CORE_READ(inode, __i_nlink);
	if (e->nlink == 0)
		e->flags |= FLAG_DELETED;
	fill_proc(task, e);
	__builtin_memset(e->exe_name, 0, sizeof(e->exe_name));
	bpf_probe_read_kernel_str(e->exe_name, sizeof(e->exe_name),
				  BPF_CORE_READ(exe, f_path.dentry, d_name.name));
	/* memfd_create files are named "memfd:<name>" on the internal shmem mount. */
	if (e->exe_name[0] == 'm' && e->exe_name[1] == 'e' && e->exe_name[2] == 'm' &&
	    e->exe_name[3] == 'f' && e->exe_name[4] == 'd' && e->exe_name[5] == ':')
		e->flags |= FLAG_MEMFD;
	/* Observer-only mode: drop plain execs here, keep memfd and ld-* (loader) ones; remember
	 * the exec in recent_execs for fanotify records whose /proc read comes too late. */
	if (!exec_all() && !(e->flags & FLAG_MEMFD) &&
	    !(e->exe_name[0] == 'l' && e->exe_name[1] == 'd' && e->exe_name[2] == '-')) {
		remember(task, e);
		/* No wake-up: a discarded record is nothing to read, yet with flags 0 the kernel
		 * wakes a waiting reader for it as for a submitted one (a wake-up per exec). */
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return 0;
	}

	/* argv: NUL-separated strings at mm->arg_start..arg_end, written by this exec. */
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > ARGS_LEN)
		len = ARGS_LEN;
	e->args_len = 0;
	if (len > 0 && bpf_probe_read_user(e->args, len & (ARGS_LEN - 1) ?: ARGS_LEN,
					   (void *)start) == 0)
		e->args_len = len;
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

/* The socket type (SOCK_STREAM 1, SOCK_DGRAM 2) of fd in the current task; 0 if unknown. */
static __always_inline __u16 sock_type(struct task_struct *task, int fd)
{
	struct file **fds;
	struct file *f = NULL;
	struct socket *sock;
	unsigned int max;

	if (fd < 0)
		return 0;
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if ((unsigned int)fd >= max)
		return 0;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return 0;
	return (__u16)BPF_CORE_READ(sock, type);
}

SEC("tp/syscalls/sys_enter_connect")
int mamori_connect_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct pending_connect p = {};
	__u64 id = bpf_get_current_pid_tgid();
	void *uaddr = (void *)ctx->args[1];
	long addrlen = (long)ctx->args[2];
	__u16 family = 0;

	if (!uaddr || addrlen < 8 || skipped())
		return 0;
	if (bpf_probe_read_user(&family, sizeof(family), uaddr))
		return 0;
	if (family == AF_INET) {
		struct sockaddr_in sin = {};

		if (bpf_probe_read_user(&sin, sizeof(sin), uaddr))
			return 0;
		p.port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(p.addr, &sin.sin_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};

		if (addrlen < (long)sizeof(sin6) ||
		    bpf_probe_read_user(&sin6, sizeof(sin6), uaddr))
			return 0;
		p.port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(p.addr, &sin6.sin6_addr, 16);
	} else {
		return 0;
	}
	p.family = family;
	p.fd = (int)ctx->args[0];
	p.type = sock_type((struct task_struct *)bpf_get_current_task(), p.fd);
	bpf_map_update_elem(&connects, &id, &p, BPF_ANY);
	return 0;
}

SEC("tp/syscalls/sys_exit_connect")
int mamori_connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_connect *p = bpf_map_lookup_elem(&connects, &id);
	struct connect_ev *e;

	if (!p)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		bpf_map_delete_elem(&connects, &id);
		return 0;
	}
	fill_hdr(&e->h, KIND_CONNECT);
	e->ret = (__s32)ctx->ret;
	e->family = p->family;
	e->port = p->port;
	e->type = p->type;
	e->pad = 0;
	e->fd = p->fd;
	__builtin_memcpy(e->addr, p->addr, sizeof(e->addr));
	bpf_ringbuf_submit(e, submit_flags());
	bpf_map_delete_elem(&connects, &id);
	return 0;
}

/* Emit an open of a watched path or basename; everything else stays in the kernel. */
static __always_inline int on_open(int dfd, const char *upath, __u32 flags, __u32 mode)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	struct open_ev *e;
	long n;
	__u32 last = 0, i;
	__u16 match = 0;

	if (!s || !upath)
		return 0;
	__builtin_memset(&s->path, 0, sizeof(s->path));
	n = bpf_probe_read_user_str(s->path.s, sizeof(s->path.s), upath);
	if (n <= 1)
		return 0;
	if (bpf_map_lookup_elem(&watched_paths, &s->path)) {
		match = MATCH_PATH;
	} else {
		/* The last '/', scanning back from the end: one exit per iteration keeps the
		 * verifier's state count linear (a forward scan tracking `last` is quadratic). */
		for (i = 0; i < PATH_LEN; i++) {
			long at = n - 2 - (long)i;

			if (at < 0)
				break;
			if (s->path.s[at & (PATH_LEN - 1)] == '/') {
				last = (at + 1) & (PATH_LEN - 1);
				break;
			}
		}
		__builtin_memset(&s->base, 0, sizeof(s->base));
		bpf_probe_read_kernel_str(s->base.s, sizeof(s->base.s),
					  &s->path.s[last & (PATH_LEN - 1)]);
		/* 1: a watched basename anywhere; 2: the basename of a watched full path, which
		 * counts only for a relative path (userspace resolves it and checks the full path). */
		__u8 *kind = bpf_map_lookup_elem(&watched_names, &s->base);

		if (kind && (*kind == 1 || s->path.s[0] != '/'))
			match = *kind == 1 ? MATCH_BASENAME : MATCH_RELATIVE;
	}
	if (!match)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	fill_hdr(&e->h, KIND_OPEN);
	e->dfd = dfd;
	e->flags = flags;
	e->mode = mode;
	e->path_len = n - 1;
	e->match = match;
	__builtin_memcpy(e->path, s->path.s, sizeof(e->path));
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

SEC("tp/syscalls/sys_enter_openat")
int mamori_openat(struct trace_event_raw_sys_enter *ctx)
{
	return on_open((int)ctx->args[0], (const char *)ctx->args[1], (__u32)ctx->args[2],
		       (__u32)ctx->args[3]);
}

SEC("tp/syscalls/sys_enter_open")
int mamori_open(struct trace_event_raw_sys_enter *ctx)
{
	return on_open(AT_FDCWD, (const char *)ctx->args[0], (__u32)ctx->args[1],
		       (__u32)ctx->args[2]);
}

SEC("tp/syscalls/sys_enter_openat2")
int mamori_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	if (bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]))
		return 0;
	return on_open((int)ctx->args[0], (const char *)ctx->args[1], (__u32)how.flags,
		       (__u32)how.mode);
}
