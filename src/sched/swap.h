/*
 * Strided swap files. Slot s lives in file s mod F at offset
 * (s div F) * slot_size; every file is preallocated (fallocate) at open, so
 * writing a slot never fails for lack of space. A slot holds one swapped-out
 * VM: a header, a metadata block (the page numbers, the vCPU state, the
 * device state) and the VM's resident non-zero pages, each part checksummed
 * (CRC-32C). Writes and reads go through one io_uring, batched: a swap-out
 * is one submission of writev()s straight from guest memory plus a data
 * sync; a swap-in is one batched sweep of the slot: the metadata and readv()s
 * straight into guest memory in one submission when the record knows where
 * the pages go (a few runs), else the metadata first.
 *
 * Thread-safe: one mutex serialises slot I/O and the allocator.
 */
#ifndef DENALI_SCHED_SWAP_H
#define DENALI_SCHED_SWAP_H

#include <stddef.h>
#include <stdint.h>

#define SWAP_PAGE      4096u
#define SWAP_STATE_MAX (64u << 10)  /* vCPU state bytes a slot accepts */
#define SWAP_DEV_MAX   (192u << 10) /* device state bytes a slot accepts */
#define SWAP_NO_SLOT   UINT64_MAX

struct swap_config {
	const char *dir;    /* where the files swap.0 .. swap.F-1 live */
	unsigned nfiles;    /* F, >= 1 */
	uint64_t size;	    /* total bytes over all files */
	uint64_t slot_size; /* bytes per slot, a multiple of 4 KiB */
	int durable;	    /* data-sync every slot before swap_write() returns (else the
			     * caller group-commits: swap_sync_files()) */
	/* Ablations of the swap-in path (issue 12): */
	int no_prefault;    /* do not populate the pages before reading them back */
	uint64_t read_unit; /* at most this many bytes per read (a multiple of 4 KiB); 0 = runs */
};

/* Slot layout: which file, and where in it. */
unsigned swap_slot_file(uint64_t slot, unsigned nfiles);
uint64_t swap_slot_offset(uint64_t slot, unsigned nfiles, uint64_t slot_size);

/* Bytes of the header plus metadata block for npages pages and the given
 * state sizes (a multiple of 4 KiB). */
uint64_t swap_meta_bytes(uint64_t npages, uint32_t state_len, uint32_t dev_len);

/* The smallest slot that holds a VM of mem_size bytes with every page
 * resident and state blobs up to the given sizes. */
uint64_t swap_slot_size_for(uint64_t mem_size, uint32_t state_len, uint32_t dev_len);

/* One VM's image, as swap_write() takes it and swap_read() fills it. */
struct swap_image {
	uint64_t vm_id;
	uint8_t *mem; /* guest memory, mem_size bytes */
	uint64_t mem_size;
	void *state; /* vCPU state */
	uint32_t state_len;
	void *dev; /* device and monitor state */
	uint32_t dev_len;
};

#define SWAP_REC_RUNS 6

/*
 * What the host keeps in memory for a swapped-out VM (84 bytes): enough to
 * refuse a slot that holds anything else (another VM, an older write), and,
 * when its saved pages form at most SWAP_REC_RUNS runs (a small VM: image,
 * heap, stack), where they go, so that the metadata and the pages are read
 * in one submission. Otherwise the metadata is read first.
 */
struct swap_record {
	uint64_t slot;
	uint64_t generation;
	uint32_t npages;
	uint32_t state_len;
	uint32_t dev_len;
	uint32_t header_crc;
	uint32_t nruns; /* 0: the page list is only in the slot */
	struct {
		uint32_t start, len;
	} runs[SWAP_REC_RUNS];
};

struct swap_counters {
	uint64_t writes, write_errors, write_bytes;
	uint64_t reads, read_errors, read_bytes;
	uint64_t read_requests; /* readv()s submitted (the read unit splits runs) */
	uint64_t checksum_failures;
	uint64_t too_big; /* a VM whose pages did not fit a slot */
	uint64_t slots_total, slots_used;
	uint64_t syncs, sync_errors; /* whole-file data syncs (swap_sync_files) */
	/* Slot reads and writes hold the swap's one lock (its ring, its scratch) for their
	 * whole I/O: how often one waited for another's, for how long in all, and how long
	 * they held it in all. */
	uint64_t lock_waits, lock_wait_ns, lock_held_ns;
};

struct swap;

/*
 * Creates (or reuses) F files in cfg->dir and preallocates them for
 * size / slot_size slots. 0 or -errno with a reason in err: -EINVAL for a
 * bad configuration, -ENOSPC when the files cannot be preallocated.
 */
int swap_open(const struct swap_config *cfg, struct swap **out, char *err, size_t errlen);

/* Closes the files (they stay on disk with their slots). */
void swap_close(struct swap *sw);

uint64_t swap_slot_size(const struct swap *sw);

/* Bytes of mem[0, size) resident now (in RAM or host swap), by the pagemap
 * descriptor opened at swap_open() (workers may open no files). */
uint64_t swap_resident_bytes(const struct swap *sw, const uint8_t *mem, uint64_t size);
uint64_t swap_slots(const struct swap *sw);
unsigned swap_files(const struct swap *sw); /* F */

/* Allocates a free slot into *slot; -ENOSPC when every slot is taken. */
int swap_slot_alloc(struct swap *sw, uint64_t *slot);

/* Marks a given slot used (restoring a fleet after a restart): -EBUSY if it
 * is taken, -ERANGE if it does not exist. */
int swap_slot_reserve(struct swap *sw, uint64_t slot);

void swap_slot_free(struct swap *sw, uint64_t slot);

/*
 * Writes img into slot: its resident (present or host-swapped, by
 * /proc/self/pagemap) non-zero pages, its state and its device state, then
 * (if durable) syncs the data. Only when this returns 0 is *rec valid and the
 * slot's content written (durable if durable, else once swap_sync_files()
 * of its file returns); the caller may then release the VM's memory.
 * Guest memory is only read. -EFBIG if the pages do not fit the slot,
 * -EIO/-ENOSPC/... from the file; every failure is counted and leaves the
 * VM's memory untouched.
 */
int swap_write(struct swap *sw, uint64_t slot, const struct swap_image *img,
	       struct swap_record *rec, char *err, size_t errlen);

/*
 * Reads the slot of rec back into img: img->mem must be zero-filled memory
 * of img->mem_size bytes, img->state/dev buffers of rec->state_len and
 * rec->dev_len bytes (img->dev_len is set). Every field and checksum is
 * checked before 0 is returned: -EBADMSG (checksum or header mismatch,
 * counted as a checksum failure) or -EIO etc. with a reason in err. On
 * failure img->mem may hold partial data and must not run.
 */
int swap_read(struct swap *sw, const struct swap_record *rec, struct swap_image *img, char *err,
	      size_t errlen);

/*
 * Reads and checks a slot's header and metadata block only (a fleet restored
 * after a restart learns each VM's deadline from its device state without
 * reading its pages): copies the device state (rec->dev_len <= dev_cap
 * bytes) into dev. 0, -EBADMSG (checksum, or the slot holds another VM than
 * vm_id of mem_size bytes), -EINVAL, -errno, with err.
 */
int swap_read_meta(struct swap *sw, const struct swap_record *rec, uint64_t vm_id,
		   uint64_t mem_size, void *dev, uint32_t dev_cap, char *err, size_t errlen);

/*
 * Reads and checks only the header of a slot (fleet restore after a
 * restart): fills *rec and *vm_id from it. -ENODATA for a slot never
 * written, -EBADMSG for a header that fails its checksum.
 */
int swap_probe(struct swap *sw, uint64_t slot, struct swap_record *rec, uint64_t *vm_id,
	       uint64_t *mem_size);

/*
 * Group commit: one data sync (fdatasync through io_uring, all at once) of
 * each of the n files named (indexes < F). Every slot write that returned
 * before this call is durable once it returns 0. Slot I/O goes on meanwhile
 * (its own ring and lock). -EINVAL for a bad index, or the first sync error.
 */
int swap_sync_files(struct swap *sw, const unsigned *files, unsigned n);

void swap_get_counters(struct swap *sw, struct swap_counters *out);

/*
 * Test hook: the next n completions of slot I/O fail with -err (as a disk
 * returning EIO would), through the same error paths as a real failure.
 */
void swap_inject_error(struct swap *sw, int err, unsigned n);

/* Test hook: the next n swap_sync_files() calls fail with -err. */
void swap_inject_sync_error(struct swap *sw, int err, unsigned n);

#endif
