// DeviceReadaheadKb: how far Linux reads ahead on a device (its backing_dev_info's
// read_ahead_kb), which bounds the readahead windows of the files a file system keeps on it.
// One look-up for the passthrough store (the source directory's device) and the block device
// file (the device itself).
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace errseq::fs {

// The read_ahead_kb of device `dev`: its bdi's (/sys/class/bdi/MAJ:MIN, which also a FUSE or
// NFS mount has), else its queue's (/sys/dev/block/MAJ:MIN/queue; a partition's disk's), else
// `fallback`.
size_t DeviceReadaheadKb(dev_t dev, size_t fallback);

}  // namespace errseq::fs
