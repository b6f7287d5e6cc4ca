/*
 * ELF64 loader. Every field of the file is untrusted: offsets and sizes are
 * checked for overflow before use, and segments must fit guest memory above
 * the monitor's reserved low pages.
 */
#include "elf.h"

#include <denali/abi.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ELF_MAX_PHDRS 64

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -ENOEXEC;
}

static int check_header(const Elf64_Ehdr *eh, size_t size, char *err, size_t errlen)
{
	uint64_t ph_bytes, ph_end;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return fail(err, errlen, "not an ELF file (bad magic)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return fail(err, errlen, "not a 64-bit ELF (class %u)", eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(err, errlen, "not a little-endian ELF (data %u)", eh->e_ident[EI_DATA]);
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return fail(err, errlen, "unknown ELF version %u", eh->e_version);
	if (eh->e_machine != EM_X86_64)
		return fail(err, errlen, "wrong machine %u (expected x86-64, %u)", eh->e_machine,
			    EM_X86_64);
	if (eh->e_type != ET_EXEC)
		return fail(err, errlen, "not a static executable (ELF type %u)", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return fail(err, errlen, "bad program header size %u", eh->e_phentsize);
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHDRS)
		return fail(err, errlen, "bad program header count %u", eh->e_phnum);
	ph_bytes = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (__builtin_add_overflow(eh->e_phoff, ph_bytes, &ph_end) || ph_end > size)
		return fail(err, errlen,
			    "truncated: program headers end beyond the file (%zu bytes)", size);
	return 0;
}

static int check_segment(const Elf64_Phdr *ph, unsigned i, size_t size, uint64_t mem_size,
			 char *err, size_t errlen)
{
	uint64_t file_end, mem_end;

	if (ph->p_filesz > ph->p_memsz)
		return fail(err, errlen, "segment %u: file size 0x%lx exceeds memory size 0x%lx", i,
			    ph->p_filesz, ph->p_memsz);
	if (__builtin_add_overflow(ph->p_offset, ph->p_filesz, &file_end))
		return fail(err, errlen, "segment %u: file offset + size overflows", i);
	if (file_end > size)
		return fail(err, errlen, "truncated: segment %u data ends at 0x%lx, file has 0x%zx",
			    i, file_end, size);
	if (__builtin_add_overflow(ph->p_vaddr, ph->p_memsz, &mem_end))
		return fail(err, errlen, "segment %u: address + size overflows", i);
	if (ph->p_vaddr < DENALI_RESERVED_END)
		return fail(err, errlen,
			    "segment %u at 0x%lx overlaps the reserved low pages (below 0x%x)", i,
			    ph->p_vaddr, DENALI_RESERVED_END);
	if (mem_end > mem_size)
		return fail(err, errlen,
			    "segment %u [0x%lx, 0x%lx) lies outside guest memory (0x%lx bytes)", i,
			    ph->p_vaddr, mem_end, mem_size);
	return 0;
}

static int walk(const uint8_t *file, size_t size, uint8_t *mem, uint64_t mem_size, uint64_t *entry,
		char *err, size_t errlen)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)file;
	const Elf64_Phdr *phs;
	unsigned i, loads = 0;
	int entry_ok = 0, rc;

	if (size < sizeof(Elf64_Ehdr))
		return fail(err, errlen, "truncated: %zu bytes is shorter than an ELF header",
			    size);
	rc = check_header(eh, size, err, errlen);
	if (rc)
		return rc;
	phs = (const Elf64_Phdr *)(file + eh->e_phoff);
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, &phs[i], sizeof(ph)); /* e_phoff need not be aligned */
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
			return fail(err, errlen, "dynamic executables are not supported");
		if (ph.p_type != PT_LOAD || (ph.p_memsz == 0 && ph.p_filesz == 0))
			continue; /* empty segments (linkers emit them) load nothing */
		rc = check_segment(&ph, i, size, mem_size, err, errlen);
		if (rc)
			return rc;
		loads++;
		if (eh->e_entry >= ph.p_vaddr && eh->e_entry - ph.p_vaddr < ph.p_memsz &&
		    (ph.p_flags & PF_X))
			entry_ok = 1;
		if (mem && ph.p_filesz)
			memcpy(mem + ph.p_vaddr, file + ph.p_offset, ph.p_filesz);
	}
	if (!loads)
		return fail(err, errlen, "no loadable segment");
	if (!entry_ok)
		return fail(err, errlen, "entry point 0x%lx is outside every executable segment",
			    eh->e_entry);
	*entry = eh->e_entry;
	return 0;
}

int elf_check(const uint8_t *file, size_t size, uint64_t mem_size, uint64_t *entry, char *err,
	      size_t errlen)
{
	return walk(file, size, NULL, mem_size, entry, err, errlen);
}

int elf_load(const uint8_t *file, size_t size, uint8_t *mem, uint64_t mem_size, uint64_t *entry,
	     char *err, size_t errlen)
{
	int rc = elf_check(file, size, mem_size, entry, err, errlen);

	/* Copy only once the whole image is known good: no half-loaded VM. */
	if (rc)
		return rc;
	return walk(file, size, mem, mem_size, entry, err, errlen);
}
