/*
 * The vhost-user wire protocol: request numbers, flags, feature bits and
 * payload layouts, as in QEMU's docs/interop/vhost-user.rst.  Shared by
 * the daemon and the test frontend; a unit test pins every constant.
 */

#ifndef VHOSTD_VHOST_USER_H
#define VHOSTD_VHOST_USER_H

#include <stdint.h>

/* Front-end to back-end requests. */
enum vhost_user_request {
	VHOST_USER_NONE = 0,
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_CREATE_CRYPTO_SESSION = 26,
	VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
	VHOST_USER_POSTCOPY_ADVISE = 28,
	VHOST_USER_POSTCOPY_LISTEN = 29,
	VHOST_USER_POSTCOPY_END = 30,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_GPU_SET_SOCKET = 33,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_VRING_KICK = 35,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_GET_SHARED_OBJECT = 41,
	VHOST_USER_SET_DEVICE_STATE_FD = 42,
	VHOST_USER_CHECK_DEVICE_STATE = 43,
	VHOST_USER_GET_SHMEM_CONFIG = 44,
	VHOST_USER_MAX = 45,		/* first number not known */
};

/* Back-end to front-end requests (backend request channel). */
enum vhost_user_backend_request {
	VHOST_USER_BACKEND_NONE = 0,
	VHOST_USER_BACKEND_IOTLB_MSG = 1,
	VHOST_USER_BACKEND_CONFIG_CHANGE_MSG = 2,
	VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
	VHOST_USER_BACKEND_VRING_CALL = 4,
	VHOST_USER_BACKEND_VRING_ERR = 5,
	VHOST_USER_BACKEND_SHARED_OBJECT_ADD = 6,
	VHOST_USER_BACKEND_SHARED_OBJECT_REMOVE = 7,
	VHOST_USER_BACKEND_SHARED_OBJECT_LOOKUP = 8,
};

/* Header flags. */
#define VHOST_USER_VERSION_MASK		0x3u
#define VHOST_USER_VERSION		0x1u
#define VHOST_USER_REPLY_MASK		(1u << 2)
#define VHOST_USER_NEED_REPLY_MASK	(1u << 3)

/* Virtio feature bit that enables the protocol-feature negotiation. */
#define VHOST_USER_F_PROTOCOL_FEATURES	30
/* Dirty logging (dirty_log.h). */
#define VHOST_F_LOG_ALL			26

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ			0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD			1
#define VHOST_USER_PROTOCOL_F_RARP			2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK			3
#define VHOST_USER_PROTOCOL_F_NET_MTU			4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ		5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN		6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION		7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT			8
#define VHOST_USER_PROTOCOL_F_CONFIG			9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD		10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER		11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD		12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE		13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS	14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS	15
#define VHOST_USER_PROTOCOL_F_STATUS			16
#define VHOST_USER_PROTOCOL_F_XEN_MMAP			17
#define VHOST_USER_PROTOCOL_F_SHARED_OBJECT		18
#define VHOST_USER_PROTOCOL_F_DEVICE_STATE		19

/* SET_VRING_KICK/CALL/ERR payload: low byte is the index, this bit says
 * no fd is attached. */
#define VHOST_USER_VRING_IDX_MASK	0xffu
#define VHOST_USER_VRING_NOFD_MASK	(1u << 8)
/* SET_VRING_ADDR flag: log used-ring writes at log_guest_addr. */
#define VHOST_VRING_F_LOG		0

/* Most regions in a SET_MEM_TABLE message (QEMU's VHOST_MEMORY_BASELINE_NREGIONS). */
#define VHOST_USER_MEM_TABLE_MAX	8
/* Most fds in one message. */
#define VHOST_USER_MAX_FDS		8
/* Largest payload accepted (config space 256 + header, mem table 8). */
#define VHOST_USER_MAX_PAYLOAD		4096
/* Config space limit accepted in GET/SET_CONFIG. */
#define VHOST_USER_MAX_CONFIG_SIZE	256

struct vhost_user_header {
	uint32_t	request;
	uint32_t	flags;
	uint32_t	size;		/* payload bytes after the header */
} __attribute__((packed));

struct vhost_user_vring_state {
	uint32_t	index;
	uint32_t	num;
} __attribute__((packed));

struct vhost_user_vring_addr {
	uint32_t	index;
	uint32_t	flags;
	uint64_t	desc_user_addr;
	uint64_t	used_user_addr;
	uint64_t	avail_user_addr;
	uint64_t	log_guest_addr;
} __attribute__((packed));

struct vhost_user_mem_region {
	uint64_t	guest_phys_addr;
	uint64_t	memory_size;
	uint64_t	userspace_addr;
	uint64_t	mmap_offset;
} __attribute__((packed));

struct vhost_user_memory {
	uint32_t	nregions;
	uint32_t	padding;
	struct vhost_user_mem_region regions[];
} __attribute__((packed));

struct vhost_user_mem_reg_msg {		/* ADD_MEM_REG, REM_MEM_REG */
	uint64_t	padding;
	struct vhost_user_mem_region region;
} __attribute__((packed));

struct vhost_user_config {		/* GET_CONFIG, SET_CONFIG, CONFIG_CHANGE */
	uint32_t	offset;
	uint32_t	size;
	uint32_t	flags;
	uint8_t		region[];
} __attribute__((packed));

#define VHOST_USER_CONFIG_HDR_SIZE	12

struct vhost_user_shared_object {	/* GET_SHARED_OBJECT, SHARED_OBJECT_* */
	uint8_t		uuid[16];
} __attribute__((packed));

/* Split ring layout (virtio 1.x 2.7). */
#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define VRING_USED_F_NO_NOTIFY	1
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_desc {
	uint64_t	addr;
	uint32_t	len;
	uint16_t	flags;
	uint16_t	next;
};

/* Packed ring layout (virtio 1.1 2.8): one ring of 16-byte descriptors
 * written by both sides, and two 4-byte event suppression structures. */
#define VRING_PACKED_DESC_F_AVAIL	(1 << 7)
#define VRING_PACKED_DESC_F_USED	(1 << 15)
#define VRING_PACKED_EVENT_F_ENABLE	0
#define VRING_PACKED_EVENT_F_DISABLE	1
#define VRING_PACKED_EVENT_F_DESC	2
/* Bit 15 of an event offset, and of a SET/GET_VRING_BASE index. */
#define VRING_PACKED_WRAP		(1 << 15)

struct vring_packed_desc {
	uint64_t	addr;
	uint32_t	len;
	uint16_t	id;
	uint16_t	flags;
};

struct vring_packed_event {
	uint16_t	off_wrap;
	uint16_t	flags;
};

struct vring_avail {
	uint16_t	flags;
	uint16_t	idx;
	uint16_t	ring[];		/* num entries, then used_event */
};

struct vring_used_elem {
	uint32_t	id;
	uint32_t	len;
};

struct vring_used {
	uint16_t	flags;
	uint16_t	idx;
	struct vring_used_elem ring[];	/* num entries, then avail_event */
};

/* Name of a request for log lines, "unknown" outside the table. */
const char	*vhost_user_request_name(uint32_t request);

#endif /* VHOSTD_VHOST_USER_H */
