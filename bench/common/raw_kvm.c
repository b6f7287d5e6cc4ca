/* raw_kvm: see raw_kvm.h. */
#include "raw_kvm.h"

#include "vmm/elf.h"
#include "vmm/x86.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int kvm_fd = -1;
static size_t run_size;

void raw_kvm_open(void)
{
	int v;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		bench_fail("open /dev/kvm: %s", strerror(errno));
	v = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (v <= 0)
		bench_fail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	run_size = (size_t)v;
}

void raw_kvm_close(void)
{
	close(kvm_fd);
	kvm_fd = -1;
}

int raw_kvm_fd(void)
{
	return kvm_fd;
}

void raw_ioctl(int fd, unsigned long req, void *arg, const char *name)
{
	if (ioctl(fd, req, arg) < 0)
		bench_fail("raw %s: %s", name, strerror(errno));
}

void raw_vm_mem(struct raw_vm *r, const struct bench_image *img)
{
	char err[256];

	r->mem = mmap(NULL, RAW_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->mem == MAP_FAILED)
		bench_fail("mmap guest memory: %s", strerror(errno));
	if (x86_build_tables(r->mem, RAW_MEM_SIZE))
		bench_fail("x86_build_tables failed");
	if (elf_load(img->elf, img->size, r->mem, RAW_MEM_SIZE, &r->entry, err, sizeof(err)))
		bench_fail("elf_load: %s", err);
}

void raw_vm_shell(struct raw_vm *r)
{
	r->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (r->vm_fd < 0)
		bench_fail("raw KVM_CREATE_VM: %s", strerror(errno));
	r->vcpu_fd = ioctl(r->vm_fd, KVM_CREATE_VCPU, 0);
	if (r->vcpu_fd < 0)
		bench_fail("raw KVM_CREATE_VCPU: %s", strerror(errno));
	r->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu_fd, 0);
	if (r->run == MAP_FAILED)
		bench_fail("raw mmap kvm_run: %s", strerror(errno));
}

void raw_vm_slot(struct raw_vm *r, uint8_t *mem, uint64_t size)
{
	struct kvm_userspace_memory_region reg = {
	    .slot = 0,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)mem,
	};

	raw_ioctl(r->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg, "KVM_SET_USER_MEMORY_REGION");
}

void raw_vm_regs(struct raw_vm *r, uint64_t rdi, uint64_t rsi)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	x86_entry_sregs(&sregs);
	raw_ioctl(r->vcpu_fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
	x86_entry_regs(&regs, r->entry, RAW_MEM_SIZE);
	regs.rdi = rdi;
	regs.rsi = rsi;
	raw_ioctl(r->vcpu_fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

void raw_vm_free_mem(struct raw_vm *r)
{
	munmap(r->mem, RAW_MEM_SIZE);
	r->mem = NULL;
}

void raw_vm_destroy(struct raw_vm *r)
{
	munmap(r->run, run_size);
	close(r->vcpu_fd);
	close(r->vm_fd);
	if (r->mem)
		raw_vm_free_mem(r);
}
