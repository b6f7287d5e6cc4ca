/*
 * denali guest ABI: the contract between the monitor (denalid) and a guest
 * linked against guest-libos. Shared verbatim by both sides; C99, fixed-width
 * types only, no host or guest headers beyond <stdint.h>.
 *
 * A guest runs in 64-bit long mode in ring 3 with identity-mapped page tables
 * built by the monitor. Guest-physical memory is flat from 0; page 0 is not
 * mapped. The low DENALI_RESERVED_END bytes belong to the monitor's fixed
 * layout below; images load above it.
 *
 * Hypercalls are one `out` of a 32-bit value to a port in DENALI_HC_*. The
 * value is a scalar or the guest-physical address of an argument block.
 * I/O travels through descriptor rings in guest memory, drained by the
 * monitor at every exit and filled before every entry: no exit is needed to
 * send or receive, only to wait (IDLE) or to flush at once (KICK).
 */
#ifndef DENALI_ABI_H
#define DENALI_ABI_H

#include <stdint.h>

/*
 * Version history (a guest refuses to start on a mismatch):
 *   1  first layout;
 *   2  vregs.secret[32] at offset 96 (taken from the start of reserved),
 *      vregs.blk_flags at 128; the net and blk rings are implemented;
 *      DENALI_BLK_S_RDONLY;
 *   3  DENALI_RING_SIZE 128 (was 64): every ring entry moved; a VM moving
 *      frames between two VMs on one core cost two KVM_RUNs per ring of
 *      frames, so twice the frames per entry halve them; ring.mon_flags
 *      (from the padding: a hint, DENALI_RING_F_POLLED).
 *   (3 still) shared.wake_flags at offset 8, taken from reserved: zero, what
 *      every older guest leaves there, is the old behaviour, and an older
 *      monitor ignores it, so neither side needs the other's version.
 */
#define DENALI_ABI_VERSION 3u
#define DENALI_VREGS_MAGIC 0x696c616eu /* "nali" */

#define DENALI_PAGE_SIZE 4096u

/* ---- guest-physical layout (fixed) ---------------------------------------- */

/* Virtual registers, written by the monitor, mapped read-only to the guest. */
#define DENALI_VREGS_GPA 0x1000u
/* Pending-event word and other guest-writable shared state. */
#define DENALI_SHARED_GPA 0x2000u
/* Rings, one page each, guest-writable. */
#define DENALI_CONSOLE_RING_GPA 0x3000u
#define DENALI_NET_TX_RING_GPA	0x4000u
#define DENALI_NET_RX_RING_GPA	0x5000u
#define DENALI_BLK_RING_GPA	0x6000u
/* 0x7000..0x11fff: monitor-private (GDT, TSS, page tables), not user-accessible;
 * 0x12000..0xfffff: reserved, not mapped. */
#define DENALI_PRIVATE_GPA 0x7000u
/* Everything below this is the monitor's; ELF segments must load at or above. */
#define DENALI_RESERVED_END 0x100000u

/*
 * Entry state (fixed): rip = ELF entry, rsp = mem_size, every other general
 * register 0, x87/SSE/AVX in the init state, rflags DENALI_ENTRY_RFLAGS
 * (IF=1 with nothing ever injected, IOPL 0: `in`/`out` pass only through
 * the TSS I/O bitmap, cli/sti fault, popf cannot change IOPL or IF), and the
 * ring-3 selectors below, laid out as Linux's (user data 0x2b, user code
 * 0x33: what kvm_pvm shows a ring-3 guest whatever the GDT, so every platform
 * shows the same). ds, es, fs and gs are null, with base 0.
 */
#define DENALI_ENTRY_RFLAGS 0x202u
#define DENALI_ENTRY_CS	    0x33u
#define DENALI_ENTRY_SS	    0x2bu
#define DENALI_ENTRY_DS	    0x0u /* ds, es, fs, gs */

/*
 * Guest memory size: the one rule, used by the VM layer, snapshots and
 * exports, the control protocol and both CLIs. The page tables map guest
 * memory with 2 MiB pages under one PDPT of four page directories, hence a
 * multiple of 2 MiB, at most 4 GiB. DENALI_MEM_RULE is the one message.
 */
#define DENALI_MEM_DEFAULT (16u << 20)
#define DENALI_MEM_MIN	   (2u << 20)
#define DENALI_MEM_MAX	   (4ull << 30)
#define DENALI_MEM_ALIGN   (2u << 20)
#define DENALI_MEM_RULE	   "a multiple of 2 MiB from 2 MiB to 4 GiB"

static inline int denali_mem_size_ok(uint64_t bytes)
{
	return bytes >= DENALI_MEM_MIN && bytes <= DENALI_MEM_MAX && bytes % DENALI_MEM_ALIGN == 0;
}

/* ---- hypercalls ------------------------------------------------------------ */

/*
 * Ports. The guest executes `outl %eax, $port` with eax holding the scalar or
 * argument-block address. An `out` to any other port kills the VM.
 */
#define DENALI_HC_BASE	0x500u
#define DENALI_HC_EXIT	0x500u /* scalar: exit code (int32) */
#define DENALI_HC_IDLE	0x501u /* gpa of struct denali_hc_idle (a 32-bit value) */
#define DENALI_HC_KICK	0x502u /* scalar: mask of DENALI_RING_* to flush now */
#define DENALI_HC_PANIC 0x503u /* gpa of struct denali_hc_panic; ends the VM */
#define DENALI_HC_COUNT 4u

/* IDLE: leave the run queue until an event is pending or deadline passes. */
struct denali_hc_idle {
	uint64_t deadline_ns; /* IN: monotonic ns (vregs clock); DENALI_NO_DEADLINE = none */
	uint64_t events;      /* OUT: pending events at wake-up (also left in shared page) */
};
#define DENALI_NO_DEADLINE UINT64_MAX

/* PANIC: end the VM; the message becomes part of the logged reason. */
struct denali_hc_panic {
	uint64_t msg_gpa; /* IN: guest-physical address of the message bytes */
	uint64_t len;	  /* IN: length in bytes (the monitor shows at most 256) */
};

/* Ring selectors for KICK. Rings are also drained at every exit, fatal ones
 * included, so output posted before a fault is not lost. */
#define DENALI_RING_CONSOLE (1u << 0)
#define DENALI_RING_NET_TX  (1u << 1)
#define DENALI_RING_BLK	    (1u << 2)

/* ---- events: bits of denali_shared.events ---------------------------------- */
/* NET_TX is raised only when the monitor consumed descriptors from a full tx
 * ring (a sender may be waiting for space); raising it on every drain made
 * every idle() of a sender return at once and cost a second exit. Not a
 * layout change, and no guest used it otherwise: the version stays. */

#define DENALI_EV_TIMER	  (1ull << 0) /* an IDLE deadline passed */
#define DENALI_EV_NET_RX  (1ull << 1) /* frames waiting in the net rx ring */
#define DENALI_EV_NET_TX  (1ull << 2) /* net tx descriptors were consumed from a full ring */
#define DENALI_EV_BLK	  (1ull << 3) /* block completions in the blk ring */
#define DENALI_EV_CONSOLE (1ull << 4) /* console descriptors were consumed */

/* ---- virtual registers (monitor-owned, read-only to the guest) ------------- */

#define DENALI_ARGS_MAX 2048u /* bytes of NUL-separated argv strings */

struct denali_vregs {
	uint32_t magic;	      /* DENALI_VREGS_MAGIC */
	uint32_t abi_version; /* DENALI_ABI_VERSION */
	uint64_t vm_id;
	uint64_t mem_size; /* bytes of guest-physical memory, from 0 */

	/* Time: now_ns = time_ns + (((rdtsc - time_tsc) * tsc_mult) >> 32),
	 * with a 128-bit product. rdtsc works in ring 3 (CR4.TSD is clear);
	 * tsc_hz and tsc_mult are never 0. time_ns is the host's CLOCK_MONOTONIC
	 * at time_tsc, refreshed before every entry, so a reader must re-read
	 * until two reads agree (the VM can be preempted between them). */
	uint64_t time_ns;
	uint64_t time_tsc;
	uint64_t tsc_mult; /* ns per TSC tick, 32.32 fixed point */
	uint64_t tsc_hz;

	/* Network configuration (the net device implements it). */
	uint8_t mac[6];
	uint16_t mtu;
	uint32_t ipv4_addr; /* network byte order; 0 = unconfigured */
	uint32_t ipv4_netmask;
	uint32_t ipv4_gateway;

	/* Block device: capacity in 512-byte sectors, 0 = none. */
	uint64_t blk_sectors;

	uint32_t argc;
	uint32_t args_len; /* bytes used in args, including every NUL */
	/* Per-VM random bytes from the host's getrandom() at creation, never
	 * shown to anyone else: keys the guest's own secrets (TCP ISNs). */
	uint8_t secret[32];
	uint32_t blk_flags; /* DENALI_BLK_F_* */
	uint8_t reserved[4096 - 132 - DENALI_ARGS_MAX];
	char args[DENALI_ARGS_MAX]; /* argc NUL-terminated strings, back to back */
};

/* ---- shared page (guest-writable) ------------------------------------------ */

struct denali_shared {
	/* The monitor ORs event bits in; the guest takes them with an atomic
	 * exchange. Never an interrupt: the guest looks when it wants to.
	 * Level-triggered: IDLE returns at once while any bit is set. */
	uint64_t events;
	/* DENALI_WAKE_*: what the guest does not need waking for, read by the
	 * monitor once at each exit (a hint for the VM's own wake-ups only). */
	uint32_t wake_flags;
	uint8_t reserved[4096 - 12];
};

/* Frames carrying only a TCP acknowledgment (IPv4, no data, no SYN, FIN,
 * RST or URG) arriving while the VM idles do not wake it: they wait in its
 * queue and reach its rx ring at its next entry (another frame, its
 * deadline). Set by a guest with nothing that such an ACK would unblock
 * (no unsent bytes, send buffers far from full): the ACK that follows each
 * answer of a request-response server was a second exit per request. */
#define DENALI_WAKE_ACKS_LAZY (1u << 0)

/* ---- descriptor rings ------------------------------------------------------ */

/*
 * One ring per device queue, one page each. Indices are free-running uint32_t
 * counters; slot = index % DENALI_RING_SIZE.
 *
 *   avail: the guest produces descriptors (avail_prod), the monitor consumes
 *          them (avail_cons). Console: output buffers. Net tx: frames to send.
 *          Net rx: empty buffers to fill. Blk: requests (addr -> denali_blk_req).
 *   used:  the monitor produces completions (used_prod), the guest consumes
 *          (used_cons). Net rx: received frames. Blk: request status. Console
 *          and net tx do not use it.
 *
 * The monitor reads each guest-written index once, checks that it is at most
 * DENALI_RING_SIZE ahead of the monitor's own counter, and kills the VM
 * otherwise. The monitor keeps its own copies of the indices it writes and
 * never reads them back.
 *
 * mon_flags (taken from the padding, so older guests see zeros): a hint the
 * monitor writes and never reads. DENALI_RING_F_POLLED: a host thread is
 * watching this ring while the guest runs (blk), so a request posted now is
 * taken and answered with no exit; a guest may spin on used_prod a while
 * before it idles. Without the flag, only an exit (idle, kick) moves it.
 */
#define DENALI_RING_SIZE     128u
#define DENALI_RING_F_POLLED 1u /* mon_flags: served while the guest runs */

struct denali_desc {
	uint64_t addr; /* guest-physical address of the buffer */
	uint32_t len;  /* bytes */
	uint16_t id;   /* guest's tag, echoed in the used entry */
	uint16_t flags;
};

struct denali_used {
	uint32_t id;  /* the descriptor's id */
	uint32_t len; /* bytes written (net rx) or status (blk, DENALI_BLK_S_*) */
};

struct denali_ring {
	uint32_t avail_prod; /* guest writes */
	uint32_t avail_cons; /* monitor writes */
	uint32_t used_prod;  /* monitor writes */
	uint32_t used_cons;  /* guest writes */
	uint32_t mon_flags;  /* monitor writes: DENALI_RING_F_*, a hint */
	uint8_t pad[44];
	struct denali_desc desc[DENALI_RING_SIZE];
	struct denali_used used[DENALI_RING_SIZE];
};

/* Console: a descriptor is up to this many bytes of output. */
#define DENALI_CONSOLE_DESC_MAX 4096u

/* Net: one Ethernet frame per descriptor, without FCS. */
#define DENALI_NET_FRAME_MAX 1514u

/* Blk: the descriptor points at a request header; data follows in the same
 * guest buffer; desc.len covers header and data (at least the header, and
 * for READ/WRITE exactly header + nsectors * 512). used.len is the status.
 * A request outside the disk, or whose sector + nsectors wraps, gets
 * DENALI_BLK_S_IOERR; a descriptor outside guest memory kills the VM. */
#define DENALI_BLK_SECTOR   512u
#define DENALI_BLK_READ	    0u
#define DENALI_BLK_WRITE    1u
#define DENALI_BLK_FLUSH    2u
#define DENALI_BLK_S_OK	    0u
#define DENALI_BLK_S_IOERR  1u
#define DENALI_BLK_S_UNSUPP 2u
#define DENALI_BLK_S_RDONLY 3u /* a write or flush to a read-only disk */
#define DENALI_BLK_F_RDONLY 1u /* vregs.blk_flags: the disk refuses writes */

struct denali_blk_req {
	uint32_t op; /* DENALI_BLK_READ/WRITE/FLUSH */
	uint32_t nsectors;
	uint64_t sector;
	/* data: nsectors * DENALI_BLK_SECTOR bytes */
};

/* ---- static checks: the layout is the contract ----------------------------- */

#define DENALI_STATIC_ASSERT(c, m) _Static_assert(c, m)
DENALI_STATIC_ASSERT(sizeof(struct denali_hc_idle) == 16, "denali_hc_idle");
DENALI_STATIC_ASSERT(sizeof(struct denali_hc_panic) == 16, "denali_hc_panic");
DENALI_STATIC_ASSERT(sizeof(struct denali_vregs) == 4096, "denali_vregs is one page");
DENALI_STATIC_ASSERT(__builtin_offsetof(struct denali_vregs, secret) == 96, "denali_vregs header");
DENALI_STATIC_ASSERT(__builtin_offsetof(struct denali_vregs, blk_flags) == 128,
		     "denali_vregs secret");
DENALI_STATIC_ASSERT(sizeof(struct denali_shared) == 4096, "denali_shared is one page");
DENALI_STATIC_ASSERT(sizeof(struct denali_desc) == 16, "denali_desc");
DENALI_STATIC_ASSERT(sizeof(struct denali_used) == 8, "denali_used");
DENALI_STATIC_ASSERT(sizeof(struct denali_ring) == 64 + (16 + 8) * DENALI_RING_SIZE, "denali_ring");
DENALI_STATIC_ASSERT(sizeof(struct denali_ring) <= DENALI_PAGE_SIZE, "a ring fits a page");
DENALI_STATIC_ASSERT(sizeof(struct denali_blk_req) == 16, "denali_blk_req");
DENALI_STATIC_ASSERT((DENALI_RING_SIZE & (DENALI_RING_SIZE - 1)) == 0, "ring size power of 2");

#endif /* DENALI_ABI_H */
