// Checking records against the CRC-32s a zip archive carries.
//
//   for (const RecordCheck& r : verify_checkpoint(ckpt)) ...   // pthrun verify
//   options.verify = true; load_tensors(ckpt, requests, options);  // the records a load reads
//
// Opening a zip checkpoint always checks its metadata records (data.pkl, version, byteorder,
// .data/serialization_id ...). A record whose CRC is 0 was written without one (torch >= 2.6
// with CRCs switched off): it is "not checksummed", not corrupt. Legacy and safetensors files
// carry no checksums. A mismatch throws pthrun::Error naming the file and the record.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace pthrun {

class Checkpoint;

enum class Checksum {
  verified,         // the bytes' CRC-32 equals the archive's
  not_checksummed,  // the archive records CRC 0
  none_in_format,   // legacy and safetensors files have no checksums
};
const char* checksum_name(Checksum result);  // "verified", "not checksummed", "no checksum in the format"

struct RecordCheck {
  std::string file;    // the checkpoint file (one of a folder's)
  std::string record;  // the zip entry; empty for formats without records
  uint64_t bytes = 0;
  Checksum result = Checksum::verified;
};

// What a record's recorded CRC-32 says of `actual`, that of its bytes: verified; not
// checksummed when the archive records 0 (and the bytes' CRC is not 0); any other difference
// throws pthrun::Error "<where>: corrupt: its bytes have CRC-32 ..., the archive records ...".
Checksum compare_crc(const ErrorContext& where, uint32_t recorded, uint32_t actual);

// Every record of every file of the checkpoint, in file order; data records are checksummed on
// worker threads while the next is read.
std::vector<RecordCheck> verify_checkpoint(const Checkpoint& checkpoint);

}  // namespace pthrun
