/*
 * Seeds for fuzz_elf: small static x86-64 executables as the loader wants
 * them (one text segment with the entry; text plus a data/bss segment), and
 * a dynamic one it must refuse. usage: fuzz_elf_seeds DIR
 */
#include <denali/abi.h>
#include <elf.h>
#include <stdio.h>
#include <string.h>

static int put(const char *dir, const char *name, const void *b, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f)) {
		perror(path);
		return 1;
	}
	return 0;
}

static size_t image(uint8_t *b, unsigned nph, int dynamic)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
	Elf64_Phdr *ph = (Elf64_Phdr *)(b + sizeof(*eh));
	size_t code = sizeof(*eh) + nph * sizeof(*ph);

	memset(b, 0, 1024);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = DENALI_RESERVED_END;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = (uint16_t)nph;
	ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_flags = PF_R | PF_X,
			     .p_offset = code,
			     .p_vaddr = DENALI_RESERVED_END,
			     .p_paddr = DENALI_RESERVED_END,
			     .p_filesz = 64,
			     .p_memsz = 64,
			     .p_align = 4096};
	memset(b + code, 0x90, 64);
	if (nph > 1)
		ph[1] = (Elf64_Phdr){.p_type = dynamic ? PT_DYNAMIC : PT_LOAD,
				     .p_flags = PF_R | PF_W,
				     .p_offset = code + 64,
				     .p_vaddr = DENALI_RESERVED_END + 0x1000,
				     .p_paddr = DENALI_RESERVED_END + 0x1000,
				     .p_filesz = 32,
				     .p_memsz = 0x3000,
				     .p_align = 4096};
	memset(b + code + 64, 0x5a, 32);
	return code + 96;
}

int main(int argc, char **argv)
{
	uint8_t b[1024];
	size_t n;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	n = image(b, 1, 0);
	rc |= put(argv[1], "text", b, n);
	n = image(b, 2, 0);
	rc |= put(argv[1], "text-bss", b, n);
	n = image(b, 2, 1);
	rc |= put(argv[1], "dynamic", b, n);
	return rc;
}
