/*
 * test_seccomp.c — the sandbox's syscall filter, run through a classic BPF
 * interpreter for every architecture it covers. test_sandbox's probe makes
 * the calls for real, but only on the architectures this kernel runs (x32 is
 * usually off); here each rule, the raw prefix in front of libseccomp's
 * program and the architecture check are exercised on x86-64, x32 and i386.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "tap.h"
#include "sessions/seccomp.h"

#define X32 0x40000000u
#define BAD 0xdeadbeefu /* an instruction the interpreter does not know, or a load out of bounds */

/* The classic BPF the kernel runs for seccomp (what libseccomp and the prefix emit). */
static uint32_t run(const struct sock_fprog *p, const struct seccomp_data *d)
{
	uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = { 0 };

	for (size_t pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];
		uint32_t k = f->k, src = BPF_SRC(f->code) == BPF_X ? X : k;
		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
		case BPF_LDX: {
			uint32_t v;
			if (f->code == (BPF_LD | BPF_W | BPF_ABS)) {
				if (k % 4 || k + 4 > sizeof(*d))
					return BAD;
				memcpy(&v, (const char *)d + k, 4);
			} else if (BPF_MODE(f->code) == BPF_IMM) {
				v = k;
			} else if (BPF_MODE(f->code) == BPF_MEM && k < BPF_MEMWORDS) {
				v = M[k];
			} else if (BPF_MODE(f->code) == BPF_LEN) {
				v = sizeof(*d);
			} else {
				return BAD;
			}
			*(BPF_CLASS(f->code) == BPF_LD ? &A : &X) = v;
			break;
		}
		case BPF_ST:
		case BPF_STX:
			if (k >= BPF_MEMWORDS)
				return BAD;
			M[k] = BPF_CLASS(f->code) == BPF_ST ? A : X;
			break;
		case BPF_ALU:
			switch (BPF_OP(f->code)) {
			case BPF_ADD: A += src; break;
			case BPF_SUB: A -= src; break;
			case BPF_MUL: A *= src; break;
			case BPF_DIV: if (!src) return BAD; A /= src; break;
			case BPF_OR: A |= src; break;
			case BPF_AND: A &= src; break;
			case BPF_LSH: A = src < 32 ? A << src : 0; break;
			case BPF_RSH: A = src < 32 ? A >> src : 0; break;
			case BPF_NEG: A = -A; break;
			default: return BAD;
			}
			break;
		case BPF_JMP:
			switch (BPF_OP(f->code)) {
			case BPF_JA: pc += k; break;
			case BPF_JEQ: pc += A == src ? f->jt : f->jf; break;
			case BPF_JGT: pc += A > src ? f->jt : f->jf; break;
			case BPF_JGE: pc += A >= src ? f->jt : f->jf; break;
			case BPF_JSET: pc += A & src ? f->jt : f->jf; break;
			default: return BAD;
			}
			break;
		case BPF_RET:
			return BPF_RVAL(f->code) == BPF_A ? A : k;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				X = A;
			else
				A = X;
			break;
		default:
			return BAD;
		}
	}
	return BAD; /* ran off the end: the kernel refuses such a program */
}

static uint32_t call(const struct sock_fprog *p, uint32_t arch, uint32_t nr, uint64_t a0)
{
	struct seccomp_data d = { .nr = (int)nr, .arch = arch, .args = { a0 } };
	return run(p, &d);
}

#define ALLOW SECCOMP_RET_ALLOW
#define EPERM_ (SECCOMP_RET_ERRNO | EPERM)
#define ENOSYS_ (SECCOMP_RET_ERRNO | ENOSYS)

int main(void)
{
	struct sock_fprog p;
	struct err *e = NULL;
	const uint32_t x64 = AUDIT_ARCH_X86_64, i386 = AUDIT_ARCH_I386;

	ok(sess_seccomp_build(&p, false, &e) == 0 && p.len > 0, "the filter builds (%u instructions)", p.len);
	if (e) {
		err_free(e);
		return tap_done();
	}
	/* x86-64 */
	ok(call(&p, x64, 39, 0) == ALLOW, "x86-64 getpid: allowed");
	ok(call(&p, x64, 101, 0) == ALLOW, "x86-64 ptrace: allowed (gdb, strace)");
	ok(call(&p, x64, 165, 0) == EPERM_, "x86-64 mount: EPERM");
	ok(call(&p, x64, 438, 0) == EPERM_, "x86-64 pidfd_getfd: EPERM");
	ok(call(&p, x64, 451, 0) == ALLOW, "x86-64 cachestat (451, past libseccomp's names): allowed");
	ok(call(&p, x64, 457, 0) == EPERM_, "x86-64 statmount (457, by number): EPERM");
	ok(call(&p, x64, 467, 0) == EPERM_, "x86-64 open_tree_attr (467): EPERM");
	ok(call(&p, x64, 468, 0) == ENOSYS_, "x86-64 file_getattr (468, not reviewed): ENOSYS");
	ok(call(&p, x64, 600, 0) == ENOSYS_, "x86-64 600 (a future call): ENOSYS");
	ok(call(&p, x64, 435, 0) == ENOSYS_, "x86-64 clone3: ENOSYS (glibc falls back to clone)");
	ok(call(&p, x64, 56, 0x10000000 /* CLONE_NEWUSER */) == EPERM_, "x86-64 clone with CLONE_NEWUSER: EPERM");
	ok(call(&p, x64, 56, 0x00010000 /* CLONE_THREAD */) == ALLOW, "x86-64 clone of a thread: allowed");
	ok(call(&p, x64, 41, AF_INET) == ALLOW, "x86-64 socket(AF_INET): allowed");
	ok(call(&p, x64, 41, AF_ALG) == EPERM_, "x86-64 socket(AF_ALG): EPERM");
	ok(call(&p, x64, 41, (1ull << 32) | AF_ALG) == EPERM_, "x86-64 socket(AF_ALG) with high bits set: EPERM");
	ok(call(&p, x64, 135, 0) == ALLOW && call(&p, x64, 135, 0xffffffff) == ALLOW,
	   "x86-64 personality: the default persona and the query allowed");
	ok(call(&p, x64, 135, 0x0400000 /* READ_IMPLIES_EXEC */) == EPERM_, "x86-64 personality(READ_IMPLIES_EXEC): EPERM");
	/* x32: the same rules, and its own calls at 512-547 reach libseccomp's program */
	ok(call(&p, x64, X32 | 39, 0) == ALLOW, "x32 getpid: allowed");
	ok(call(&p, x64, X32 | 165, 0) == EPERM_, "x32 mount: EPERM");
	ok(call(&p, x64, X32 | 457, 0) == EPERM_, "x32 statmount (by number): EPERM");
	ok(call(&p, x64, X32 | 468, 0) == ENOSYS_, "x32 file_getattr: ENOSYS");
	ok(call(&p, x64, X32 | 520, 0) == ALLOW, "x32 execve (520, x32's own): allowed");
	ok(call(&p, x64, X32 | 514, 0) == ALLOW, "x32 ioctl (514): allowed");
	ok(call(&p, x64, X32 | 539, 0) == EPERM_, "x32 process_vm_readv (539): EPERM, as on x86-64");
	ok(call(&p, x64, X32 | 548, 0) == ENOSYS_, "x32 548 (past its own range): ENOSYS");
	/* i386 */
	ok(call(&p, i386, 20, 0) == ALLOW, "i386 getpid: allowed");
	ok(call(&p, i386, 21, 0) == EPERM_, "i386 mount: EPERM");
	ok(call(&p, i386, 457, 0) == EPERM_, "i386 statmount (by number): EPERM");
	ok(call(&p, i386, 102, 1 /* SYS_SOCKET */) == EPERM_, "i386 socketcall(SYS_SOCKET): EPERM (its family is hidden)");
	ok(call(&p, i386, 102, 3 /* SYS_CONNECT */) == ALLOW, "i386 socketcall(SYS_CONNECT): allowed");
	ok(call(&p, i386, 359, AF_ALG) == EPERM_, "i386 socket(AF_ALG): EPERM");
	/* anything else */
	ok(call(&p, AUDIT_ARCH_AARCH64, 172, 0) == SECCOMP_RET_KILL_PROCESS, "another architecture: the process is killed");
	ok(call(&p, x64, 29, 0) == ALLOW && call(&p, i386, 117, 23) == ALLOW, "shmget: allowed by default");
	sess_seccomp_release(&p);

	/* where nothing bounds System V IPC: its objects cannot be made, in any form */
	ok(sess_seccomp_build(&p, true, &e) == 0, "the filter without System V IPC builds");
	if (e) {
		err_free(e);
		return tap_done();
	}
	ok(call(&p, x64, 29, 0) == ENOSYS_ && call(&p, x64, 68, 0) == ENOSYS_ && call(&p, x64, 64, 0) == ENOSYS_,
	   "x86-64 shmget, msgget, semget: ENOSYS");
	ok(call(&p, x64, 30, 0) == ALLOW, "x86-64 shmat (nothing to attach to): allowed");
	ok(call(&p, x64, X32 | 29, 0) == ENOSYS_, "x32 shmget: ENOSYS");
	ok(call(&p, i386, 395, 0) == ENOSYS_ && call(&p, i386, 393, 0) == ENOSYS_ && call(&p, i386, 399, 0) == ENOSYS_,
	   "i386 shmget, semget, msgget: ENOSYS");
	ok(call(&p, i386, 117, 23) == ENOSYS_ && call(&p, i386, 117, 13) == ENOSYS_ && call(&p, i386, 117, 2) == ENOSYS_,
	   "i386 ipc(SHMGET), ipc(MSGGET), ipc(SEMGET): ENOSYS");
	ok(call(&p, i386, 117, (1u << 16) | 23) == ENOSYS_, "i386 ipc(SHMGET) of another version: ENOSYS");
	ok(call(&p, i386, 117, 21) == ALLOW, "i386 ipc(SHMAT): allowed");
	ok(call(&p, x64, 165, 0) == EPERM_, "the other rules hold (mount: EPERM)");
	sess_seccomp_release(&p);
	return tap_done();
}
