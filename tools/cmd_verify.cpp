// pthrun verify: checks every record of a checkpoint against the CRC-32 its zip archive
// records, and prints one row per record (the file, the record, its bytes, the result).
//
// A corrupt record ends the command with one error line naming it, and status 1. Records an
// archive stores with CRC 0 (torch >= 2.6 with CRCs off) are "not checksummed"; legacy and
// safetensors files carry no checksums, which is said, with status 0. Opening already checks
// every metadata record (data.pkl, version, byteorder ...): see loader/verify.h.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "loader/checkpoint.h"
#include "loader/verify.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/quote.h"
#include "tools/cli.h"

namespace pthrun::cli {

namespace {

void print_json(const Checkpoint& ckpt, const std::vector<RecordCheck>& checks) {
  JsonWriter out;
  out.begin_object().key("file").value(ckpt.path()).key("format").value(format_name(ckpt.format()));
  out.key("records").begin_array();
  for (const RecordCheck& c : checks) {
    out.newline().begin_object().key("file").value(c.file).key("record").value(c.record);
    out.key("bytes").value(c.bytes).key("result").value(checksum_name(c.result)).end_object();
  }
  out.end_array().end_object();
  std::printf("%s\n", out.text().c_str());
}

void print_table(const std::vector<RecordCheck>& checks) {
  std::size_t width = 6;
  for (const RecordCheck& c : checks) width = std::max(width, printable(c.record).size());
  std::string file;
  for (const RecordCheck& c : checks) {
    if (c.file != file) {
      file = c.file;
      std::printf("%s\n", printable(file).c_str());
    }
    if (c.record.empty()) std::printf("  %s\n", checksum_name(c.result));
    else
      std::printf("  %-*s %14llu  %s\n", static_cast<int>(width), printable(c.record).c_str(),
                  static_cast<unsigned long long>(c.bytes), checksum_name(c.result));
  }
}

struct VerifyArgs {
  std::string checkpoint;
  bool json = false;
};

int run_verify(const VerifyArgs& args) {
  const Checkpoint ckpt = Checkpoint::open(args.checkpoint);
  const std::vector<RecordCheck> checks = verify_checkpoint(ckpt);
  if (args.json) {
    print_json(ckpt, checks);
    return 0;
  }
  print_table(checks);
  const auto count = [&](Checksum result) {
    return std::count_if(checks.begin(), checks.end(), [&](const RecordCheck& c) { return c.result == result; });
  };
  if (count(Checksum::none_in_format))
    std::printf("%s files carry no checksums: nothing was verified\n", format_name(ckpt.format()));
  else
    std::printf("%zu records: %ld verified, %ld not checksummed\n", checks.size(), count(Checksum::verified),
                count(Checksum::not_checksummed));
  return 0;
}

}  // namespace

extern const Command verify_command = {
    "verify", "Check every record of a checkpoint against its zip CRC-32",
    [](CLI::App& app) {
      auto args = std::make_shared<VerifyArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_flag("--json", args->json, "print JSON: {file, format, records: [{file, record, bytes, result}]}");
      return [args] { return run_verify(*args); };
    },
    "Reads every record of a torch.save zip (or of each zip of a folder) and compares its CRC-32\n"
    "with the archive's. A corrupt record is an error naming it (status 1). A record stored with\n"
    "CRC 0 (torch >= 2.6 with CRCs off) is reported as not checksummed. Legacy and safetensors\n"
    "files carry no checksums. Loading commands check the records they read with --verify."};

}  // namespace pthrun::cli
