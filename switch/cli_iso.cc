// `kytkin iso decode|encode`: read ISO 8583 captures as JSON, and build messages from JSON.
//
//   kytkin iso decode --dialect D [--dialect-file F.json] [--framing F] [FILE]
//       hex on stdin (or FILE), whitespace ignored -> one JSON object per message on stdout.
//       With --framing binary2|ascii4 the hex may hold many framed messages.
//   kytkin iso encode --dialect D [--dialect-file F.json] [--framing F] [FILE]
//       a JSON object (or an array of them) -> one hex line per message.
//
// Cardholder data is masked in decode output (see iso8583/message_json.h). Exit codes: 0 ok,
// 1 bad input (the message names the field and byte offset), 2 bad usage.
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/message.h"
#include "iso8583/message_json.h"
#include "switch/cli.h"

namespace kytkin::cli {
namespace {

using namespace kytkin::iso8583;

constexpr std::string_view kUsage =
    "usage: kytkin iso decode|encode --dialect NAME [--dialect-file FILE.json]\n"
    "                                [--framing binary2|ascii4|none] [INPUT_FILE]\n"
    "  decode: hex (stdin or INPUT_FILE) -> JSON, one object per message, cardholder data "
    "masked\n"
    "  encode: JSON object or array (stdin or INPUT_FILE) -> hex, one line per message\n"
    "  built-in dialects: iso87-ascii, iso87-ascii-bbitmap, iso87-bcd\n";

constexpr size_t kFrameBytesMax = 9999;  // largest message the tools accept

struct Options {
  std::string command;
  std::string dialect_name;
  std::string dialect_file;
  Framing framing = Framing::kNone;
  std::string input_file;
};

int Usage(std::string_view error) {
  if (!error.empty()) std::cerr << "kytkin iso: " << error << "\n";
  std::cerr << kUsage;
  return 2;
}

std::optional<std::string> ReadInput(const Options& o) {
  if (o.input_file.empty() || o.input_file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(o.input_file, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int Decode(const Dialect& dialect, const Options& o, const std::string& input) {
  Result<std::string> bytes = HexDecode(input);
  if (!bytes.ok()) {
    std::cerr << "kytkin iso decode: " << bytes.status().message() << "\n";
    return 1;
  }
  std::vector<std::string_view> messages;
  FrameDecoderOptions frame_options;
  frame_options.framing = o.framing;
  frame_options.frame_bytes_max = kFrameBytesMax;
  frame_options.read_slack_bytes = 64 * 1024;
  FrameDecoder decoder(frame_options);
  std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
  size_t frame_index = 0;
  Message message(dialect);
  int exit_code = 0;
  while (true) {
    rest = rest.subspan(decoder.Feed(rest));
    FrameDecoder::Frame frame = decoder.Next();
    if (frame.state == FrameDecoder::State::kError) {
      std::cerr << "kytkin iso decode: frame " << frame_index << ": " << decoder.error().message()
                << "\n";
      return 1;
    }
    if (frame.state == FrameDecoder::State::kNeedMore) {
      if (!rest.empty()) continue;
      if (decoder.buffered_bytes() != 0) {
        std::cerr << "kytkin iso decode: frame " << frame_index << ": truncated ("
                  << decoder.buffered_bytes() << " bytes left after the last whole frame)\n";
        return 1;
      }
      break;
    }
    ParseError e = message.Parse(frame.payload);
    if (!e.ok()) {
      std::cerr << "kytkin iso decode: ";
      if (o.framing != Framing::kNone) std::cerr << "frame " << frame_index << ": ";
      std::cerr << e.ToString();
      if (!message.mti().empty()) std::cerr << " (MTI " << message.mti() << ")";
      std::cerr << "\n";
      exit_code = 1;
    } else {
      std::cout << MessageToJson(message) << "\n";
    }
    ++frame_index;
  }
  if (frame_index == 0 && exit_code == 0) {
    std::cerr << "kytkin iso decode: no message in the input\n";
    return 1;
  }
  return exit_code;
}

int Encode(const Dialect& dialect, const Options& o, const std::string& input) {
  boost::json::error_code ec;
  boost::json::value root = boost::json::parse(input, ec);
  if (ec) {
    std::cerr << "kytkin iso encode: JSON input: " << ec.message() << "\n";
    return 1;
  }
  std::vector<boost::json::value> items;
  if (root.is_array()) {
    for (const boost::json::value& v : root.as_array()) items.push_back(v);
  } else {
    items.push_back(root);
  }
  Message message(dialect);
  std::vector<uint8_t> out(FrameHeaderBytes(o.framing) + kFrameBytesMax);
  for (size_t i = 0; i < items.size(); ++i) {
    Status s = MessageFromJson(boost::json::serialize(items[i]), message);
    if (s.ok()) {
      const size_t header = FrameHeaderBytes(o.framing);
      Result<size_t> n = message.Pack(std::span<uint8_t>(out).subspan(header));
      if (!n.ok()) {
        s = n.status();
      } else {
        s = WriteFrameHeader(o.framing, *n, out);
        if (s.ok()) {
          std::cout << HexEncode(std::span<const uint8_t>(out.data(), header + *n)) << "\n";
        }
      }
    }
    if (!s.ok()) {
      std::cerr << "kytkin iso encode: ";
      if (items.size() > 1) std::cerr << "message " << i << ": ";
      std::cerr << s.message() << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace

int RunIso(Args args) {
  Options o;
  if (args.empty()) return Usage("missing decode|encode");
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  o.command = std::string(args[0]);
  if (o.command != "decode" && o.command != "encode") {
    return Usage("unknown command '" + o.command + "'");
  }
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = std::string(args[++i]);
      return true;
    };
    std::string framing;
    if (a == "--dialect") {
      if (!value(&o.dialect_name)) return Usage("--dialect needs a name");
    } else if (a == "--dialect-file") {
      if (!value(&o.dialect_file)) return Usage("--dialect-file needs a path");
    } else if (a == "--framing") {
      if (!value(&framing)) return Usage("--framing needs binary2, ascii4 or none");
      Result<Framing> f = ParseFraming(framing);
      if (!f.ok()) return Usage(std::string("--framing: ") + std::string(f.status().message()));
      o.framing = *f;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      return Usage("unknown flag '" + std::string(a) + "'");
    } else if (o.input_file.empty()) {
      o.input_file = std::string(a);
    } else {
      return Usage("more than one input file");
    }
  }

  std::optional<Dialect> loaded;
  const Dialect* dialect = nullptr;
  if (!o.dialect_file.empty()) {
    if (!o.dialect_name.empty()) return Usage("give --dialect or --dialect-file, not both");
    Result<Dialect> d = LoadDialectFile(o.dialect_file);
    if (!d.ok()) {
      std::cerr << "kytkin iso: --dialect-file: " << d.status().message() << "\n";
      return 2;
    }
    loaded = std::move(*d);
    dialect = &*loaded;
  } else {
    if (o.dialect_name.empty()) return Usage("--dialect is required");
    dialect = FindDialect(o.dialect_name);
    if (dialect == nullptr) return Usage("--dialect: unknown dialect '" + o.dialect_name + "'");
  }

  std::optional<std::string> input = ReadInput(o);
  if (!input) {
    std::cerr << "kytkin iso: cannot read " << o.input_file << "\n";
    return 1;
  }
  return o.command == "decode" ? Decode(*dialect, o, *input) : Encode(*dialect, o, *input);
}

}  // namespace kytkin::cli
