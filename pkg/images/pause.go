package images

import (
	"encoding/binary"
	"fmt"
	"runtime"
)

// Layout of the generated pause executable: one ELF64 header, one PT_LOAD
// program header mapping the whole file read+execute at pauseBase, the
// machine code, and (8-byte aligned) the struct sigaction passed to
// rt_sigaction. No section headers: the kernel does not need them.
const (
	pauseBase   = 0x400000 // virtual address the file is mapped at
	elfHdrSize  = 64       // sizeof(Elf64_Ehdr)
	progHdrSize = 56       // sizeof(Elf64_Phdr)
	codeOffset  = elfHdrSize + progHdrSize

	// Linux x86-64 syscall numbers.
	sysRtSigaction = 13
	sysPause       = 34
	sysExitGroup   = 231

	sigINT       = 2
	sigTERM      = 15
	saRestorer   = 0x04000000
	sigsetSize   = 8  // sizeof(kernel sigset_t) on x86-64
	sigactionLen = 32 // handler, flags, restorer, mask: 4 x 8 bytes
)

// amd64 is a tiny x86-64 assembler covering the handful of instructions the
// pause binary needs.
type amd64 struct{ b []byte }

func (a *amd64) imm32(op []byte, v uint32) {
	a.b = append(a.b, op...)
	a.b = binary.LittleEndian.AppendUint32(a.b, v)
}

func (a *amd64) movEAX(v uint32)  { a.imm32([]byte{0xb8}, v) }       // mov eax, imm32
func (a *amd64) movEDI(v uint32)  { a.imm32([]byte{0xbf}, v) }       // mov edi, imm32
func (a *amd64) movESI(v uint32)  { a.imm32([]byte{0xbe}, v) }       // mov esi, imm32 (zero-extends into rsi)
func (a *amd64) movR10D(v uint32) { a.imm32([]byte{0x41, 0xba}, v) } // mov r10d, imm32
func (a *amd64) xorEDX()          { a.b = append(a.b, 0x31, 0xd2) }  // xor edx, edx
func (a *amd64) xorEDI()          { a.b = append(a.b, 0x31, 0xff) }  // xor edi, edi
func (a *amd64) syscall()         { a.b = append(a.b, 0x0f, 0x05) }  // syscall
func (a *amd64) pc() int          { return len(a.b) }

// jmp emits a short jump (jmp rel8) to the code offset target.
func (a *amd64) jmp(target int) {
	rel := target - (a.pc() + 2)
	a.b = append(a.b, 0xeb, byte(int8(rel)))
}

// pauseCode assembles the program, given the virtual address of the
// sigaction structure. It returns the code and the offset of exit_handler
// within it.
func pauseCode(actAddr uint32) (code []byte, handler int) {
	var a amd64
	// rt_sigaction(sig, &act, NULL, sizeof(sigset_t)) for SIGTERM and SIGINT.
	for _, sig := range []uint32{sigTERM, sigINT} {
		a.movEAX(sysRtSigaction)
		a.movEDI(sig)
		a.movESI(actAddr)
		a.xorEDX()
		a.movR10D(sigsetSize)
		a.syscall()
	}
	// loop: pause(); goto loop — pause returns (-EINTR) after any handled
	// signal, which only matters if a handler ever returned.
	loop := a.pc()
	a.movEAX(sysPause)
	a.syscall()
	a.jmp(loop)
	// exit_handler: exit_group(0). Never returns, so no restorer is needed.
	handler = a.pc()
	a.movEAX(sysExitGroup)
	a.xorEDI()
	a.syscall()
	return a.b, handler
}

// PauseBinary returns a tiny static linux/amd64 ELF executable suitable as
// the sandbox (pause) container's process. It is generated in code — hand
// assembled machine code, no toolchain needed. It installs a handler for
// SIGTERM and SIGINT that exits with status 0 (as PID 1 of a PID namespace,
// signals without a handler would be ignored) and otherwise blocks forever in
// pause(2). It does not reap zombies. PauseBinary returns an error when not
// built for amd64, since the image must match the node's architecture.
func PauseBinary() ([]byte, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("images: pause binary is only available for amd64, not %s", runtime.GOARCH)
	}
	return pauseELF(), nil
}

func pauseELF() []byte {
	// First pass to learn the code size; the code size does not depend on
	// the address, so the second pass yields the final bytes.
	code, _ := pauseCode(0)
	actOff := (codeOffset + len(code) + 7) &^ 7
	actAddr := uint32(pauseBase + actOff)
	code, handler := pauseCode(actAddr)
	handlerAddr := uint64(pauseBase + codeOffset + handler)
	size := actOff + sigactionLen

	le := binary.LittleEndian
	b := make([]byte, 0, size)
	// Elf64_Ehdr.
	b = append(b, 0x7f, 'E', 'L', 'F', 2 /* ELFCLASS64 */, 1 /* little endian */, 1 /* EV_CURRENT */, 0 /* SYSV ABI */)
	b = append(b, make([]byte, 8)...)            // e_ident padding
	b = le.AppendUint16(b, 2)                    // e_type = ET_EXEC
	b = le.AppendUint16(b, 0x3e)                 // e_machine = EM_X86_64
	b = le.AppendUint32(b, 1)                    // e_version
	b = le.AppendUint64(b, pauseBase+codeOffset) // e_entry
	b = le.AppendUint64(b, elfHdrSize)           // e_phoff
	b = le.AppendUint64(b, 0)                    // e_shoff (no sections)
	b = le.AppendUint32(b, 0)                    // e_flags
	b = le.AppendUint16(b, elfHdrSize)           // e_ehsize
	b = le.AppendUint16(b, progHdrSize)          // e_phentsize
	b = le.AppendUint16(b, 1)                    // e_phnum
	b = le.AppendUint16(b, 64)                   // e_shentsize
	b = le.AppendUint16(b, 0)                    // e_shnum
	b = le.AppendUint16(b, 0)                    // e_shstrndx
	// Elf64_Phdr: map the whole file at pauseBase.
	b = le.AppendUint32(b, 1)            // p_type = PT_LOAD
	b = le.AppendUint32(b, 5)            // p_flags = PF_R|PF_X
	b = le.AppendUint64(b, 0)            // p_offset
	b = le.AppendUint64(b, pauseBase)    // p_vaddr
	b = le.AppendUint64(b, pauseBase)    // p_paddr
	b = le.AppendUint64(b, uint64(size)) // p_filesz
	b = le.AppendUint64(b, uint64(size)) // p_memsz
	b = le.AppendUint64(b, 0x1000)       // p_align
	b = append(b, code...)
	for len(b) < actOff {
		b = append(b, 0xcc) // int3 padding
	}
	// struct sigaction (kernel layout on x86-64).
	b = le.AppendUint64(b, handlerAddr) // sa_handler = exit_handler
	b = le.AppendUint64(b, saRestorer)  // sa_flags = SA_RESTORER (required by x86-64)
	b = le.AppendUint64(b, handlerAddr) // sa_restorer: never reached, handler exits
	b = le.AppendUint64(b, 0)           // sa_mask
	return b
}
