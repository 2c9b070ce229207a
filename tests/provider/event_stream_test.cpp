// AWS event stream decoder/encoder against the aws-c-event-stream and aws-sdk-go test vectors.
#include "provider/aws/event_stream.hpp"

#include "chunking.hpp"
#include "provider/aws/crc32.hpp"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace sg::provider::aws {
namespace {

using test::from_hex;

// Bit-at-a-time CRC-32, the definition itself, to check the table-driven version against.
std::uint32_t reference_crc32(std::string_view s) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : s) {
    crc ^= c;
    for (int i = 0; i < 8; ++i) crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return ~crc;
}

TEST(Crc32, KnownVectors) {
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32("a"), 0xE8B7BE43u);
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
  // The prelude of the 16-byte empty message.
  EXPECT_EQ(crc32(from_hex("0000001000000000")), 0x05C248EBu);
  EXPECT_EQ(crc32(from_hex("000000100000000005c248eb")), 0x7D98C8FFu);
}

TEST(Crc32, MatchesReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(42);
  std::string data(300, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  for (std::size_t offset = 0; offset < 8; ++offset)
    for (std::size_t len = 0; offset + len <= 200; ++len) {
      const std::string_view s = std::string_view{data}.substr(offset, len);
      ASSERT_EQ(crc32(s), reference_crc32(s)) << "offset " << offset << " len " << len;
    }
}

TEST(Crc32, IncrementalEqualsWhole) {
  const std::string s = "incremental checksums must not depend on how the bytes arrive";
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    const std::uint32_t first = crc32_update(0, s.data(), cut);
    EXPECT_EQ(crc32_update(first, s.data() + cut, s.size() - cut), crc32(s));
  }
}

struct decoded {
  std::vector<event_stream_message> messages;
  std::error_code error;
};

decoded decode_chunks(const std::vector<std::string_view>& chunks, event_stream_limits limits = {}) {
  event_stream_decoder decoder(limits);
  decoded d;
  for (auto c : chunks) {
    d.error = decoder.feed(c, d.messages);
    if (d.error) return d;
  }
  d.error = decoder.finish();
  return d;
}

// Decodes `wire` in every chunking, expects exactly `expected`, and re-encodes it bit for bit.
void expect_vector(const std::string& wire, const event_stream_message& expected) {
  for (const auto& chunking : test::all_chunkings(wire)) {
    SCOPED_TRACE(chunking.name);
    const auto d = decode_chunks(chunking.chunks);
    ASSERT_FALSE(d.error) << d.error.message();
    ASSERT_EQ(d.messages.size(), 1u);
    EXPECT_EQ(d.messages[0], expected);
  }
  event_stream_message one;
  ASSERT_FALSE(decode_message(wire, one));
  EXPECT_EQ(one, expected);
  EXPECT_EQ(encode_message(expected), wire);
}

void expect_error(const std::string& wire, event_stream_errc expected) {
  for (const auto& chunking : test::all_chunkings(wire)) {
    SCOPED_TRACE(chunking.name);
    const auto d = decode_chunks(chunking.chunks);
    EXPECT_EQ(d.error, expected) << d.error.message();
    EXPECT_TRUE(d.messages.empty());
  }
  event_stream_message m;
  EXPECT_EQ(decode_message(wire, m), expected);
}

event_stream_header hdr(std::string name, header_value v) { return {std::move(name), std::move(v)}; }

const std::string foo_bar = "{'foo':'bar'}";

// aws-sdk-go testdata/encoded/positive/* (the first three also appear in aws-c-event-stream).
TEST(EventStream, EmptyMessage) {
  expect_vector(from_hex("000000100000000005c248eb7d98c8ff"), {});
}

TEST(EventStream, PayloadNoHeaders) {
  expect_vector(from_hex("0000001d00000000fd528c5a7b27666f6f273a27626172277dc3653936"), {{}, foo_bar});
}

TEST(EventStream, PayloadOneStringHeader) {
  expect_vector(from_hex("0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e"
                         "2f6a736f6e7b27666f6f273a27626172277d8d9c08b1"),
                {{hdr("content-type", std::string{"application/json"})}, foo_bar});
}

TEST(EventStream, Int32Header) {
  expect_vector(from_hex("0000002d0000001041c424b80a6576656e742d74797065040000a00c7b27666f6f273a27626172"
                         "277d36f480a0"),
                {{hdr("event-type", std::int32_t{40972})}, foo_bar});
}

TEST(EventStream, AllHeaderTypes) {
  const std::string wire = from_hex(
      "000000cc000000af0fae64ca0a6576656e742d74797065040000a00c0c636f6e74656e742d74797065070010617070"
      "6c69636174696f6e2f6a736f6e0a626f6f6c2066616c73650109626f6f6c207472756500046279746502cf08627974"
      "652062756606001449276d2061206c6974746c6520746561706f74210974696d657374616d70080000000000845fed"
      "05696e74313603002a05696e7436340500000000028757b20475756964090102030405060708090a0b0c0d0e0f107b"
      "27666f6f273a27626172277daba5f10c");
  const event_stream_message expected{
      {hdr("event-type", std::int32_t{40972}), hdr("content-type", std::string{"application/json"}),
       hdr("bool false", false), hdr("bool true", true), hdr("byte", std::int8_t{-49}),
       hdr("byte buf", byte_array{"I'm a little teapot!"}), hdr("timestamp", timestamp{8675309}),
       hdr("int16", std::int16_t{42}), hdr("int64", std::int64_t{42424242}),
       hdr("uuid", uuid{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})},
      foo_bar};
  expect_vector(wire, expected);
  std::vector<header_type> types;
  for (const auto& h : expected.headers) types.push_back(type_of(h.value));
  EXPECT_EQ(types, (std::vector<header_type>{header_type::int32, header_type::string, header_type::bool_false,
                                             header_type::bool_true, header_type::byte, header_type::byte_array,
                                             header_type::timestamp, header_type::int16, header_type::int64,
                                             header_type::uuid}));
}

// aws-c-event-stream message_streaming_decoder_test.c.
TEST(EventStream, AwsCOneInt32HeaderNamedEvent) {
  expect_vector(from_hex("0000001b0000000be5c0a07205" "6576656e74" "0400000020" "04a1d47c"),
                {{hdr("event", std::int32_t{0x20})}, ""});
}

TEST(EventStream, AwsCEmptyByteArrayAndStringHeaders) {
  expect_vector(from_hex("00000022000000122d9ad24504" "62756666" "060000" "06" "737472696e67" "070000"
                         "c84cf853"),
                {{hdr("buff", byte_array{}), hdr("string", std::string{})}, ""});
}

TEST(EventStream, AwsCOneBoolHeader) {
  expect_vector(from_hex("000000170000000729860158056576656e74004b4d2be7"), {{hdr("event", true)}, ""});
}

TEST(EventStream, AwsCLargeHeaderName) {
  const event_stream_message m{{hdr(std::string(255, 'A'), true)}, ""};
  const std::string wire = encode_message(m);
  ASSERT_EQ(wire.size(), 12u + 257u + 4u);
  expect_vector(wire, m);
}

// aws-sdk-go testdata/encoded/negative/*.
TEST(EventStream, CorruptedHeaderLength) {
  expect_error(from_hex("0000003d0000002107fd83960c636f6e74656e742d747970650700106170706c69636174696f6e"
                        "2f6a736f6e7b27666f6f273a27626172277d8d9c08b1"),
               event_stream_errc::prelude_crc_mismatch);
}

TEST(EventStream, CorruptedHeaders) {
  expect_error(from_hex("0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e"
                        "2f6a736f6e7b61666f6f273a27626172277d8d9c08b1"),
               event_stream_errc::message_crc_mismatch);
}

TEST(EventStream, CorruptedLength) {
  expect_error(from_hex("0000003e0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e"
                        "2f6a736f6e7b27666f6f273a27626172277d8d9c08b1"),
               event_stream_errc::prelude_crc_mismatch);
}

TEST(EventStream, CorruptedPayload) {
  expect_error(from_hex("0000001d00000000fd528c5a5b27666f6f273a27626172277dc3653936"),
               event_stream_errc::message_crc_mismatch);
}

// aws-c-event-stream: headers length larger than the frame leaves room for.
TEST(EventStream, IllegalHeaderLengthRelationship) {
  const std::string wire = from_hex("0000001400000008fe996619000000000000000000");
  for (const auto& chunking : test::all_chunkings(wire)) {
    SCOPED_TRACE(chunking.name);
    EXPECT_EQ(decode_chunks(chunking.chunks).error, event_stream_errc::invalid_headers_length);
  }
}

// aws-c-event-stream: a total length below the 16-byte minimum.
TEST(EventStream, MessageTooShort) {
  const std::string wire = from_hex("0000000c00000000a0d2326800");
  for (const auto& chunking : test::all_chunkings(wire)) {
    SCOPED_TRACE(chunking.name);
    EXPECT_EQ(decode_chunks(chunking.chunks).error, event_stream_errc::message_too_short);
  }
}

// Builds a frame around raw header bytes with correct CRCs, to reach the header parser.
std::string frame_with_raw_headers(const std::string& headers, const std::string& payload = "") {
  std::string out;
  const auto put32 = [&out](std::uint32_t v) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put32(static_cast<std::uint32_t>(16 + headers.size() + payload.size()));
  put32(static_cast<std::uint32_t>(headers.size()));
  put32(crc32(out));
  out += headers;
  out += payload;
  put32(crc32(out));
  return out;
}

TEST(EventStream, InvalidHeaderType) {
  expect_error(frame_with_raw_headers(from_hex("0161" "0a")), event_stream_errc::invalid_header_type);
}

TEST(EventStream, HeaderTruncated) {
  // Name longer than the headers section.
  expect_error(frame_with_raw_headers(from_hex("0561")), event_stream_errc::header_truncated);
  // int64 with only 4 value bytes.
  expect_error(frame_with_raw_headers(from_hex("016105" "00000001")), event_stream_errc::header_truncated);
  // String whose length runs past the section (the payload must not be borrowed).
  expect_error(frame_with_raw_headers(from_hex("0161070005" "6162"), "cdefgh"),
               event_stream_errc::header_truncated);
  // Missing value type byte.
  expect_error(frame_with_raw_headers(from_hex("0161")), event_stream_errc::header_truncated);
}

TEST(EventStream, LimitsAreCheckedFromThePrelude) {
  const std::string big = encode_message({{}, std::string(1000, 'p')});
  event_stream_limits small;
  small.max_message_bytes = 512;
  event_stream_decoder decoder(small);
  std::vector<event_stream_message> out;
  // The prelude alone is enough to refuse: nothing beyond 12 bytes is buffered.
  EXPECT_EQ(decoder.feed(std::string_view{big}.substr(0, 12), out), event_stream_errc::message_too_long);
  EXPECT_LE(decoder.buffered(), 12u);

  event_stream_limits few_headers;
  few_headers.max_headers_bytes = 8;
  const std::string with_headers = encode_message({{hdr("content-type", std::string{"x"})}, ""});
  EXPECT_EQ(decode_chunks({with_headers}, few_headers).error, event_stream_errc::headers_too_long);
}

TEST(EventStream, ErrorIsSticky) {
  event_stream_decoder decoder;
  std::vector<event_stream_message> out;
  EXPECT_EQ(decoder.feed(from_hex("0000001d00000000fd528c5a5b27666f6f273a27626172277dc3653936"), out),
            event_stream_errc::message_crc_mismatch);
  EXPECT_EQ(decoder.feed(from_hex("000000100000000005c248eb7d98c8ff"), out),
            event_stream_errc::message_crc_mismatch);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(decoder.finish(), event_stream_errc::message_crc_mismatch);
}

TEST(EventStream, TruncatedStream) {
  const std::string wire = from_hex("0000001d00000000fd528c5a7b27666f6f273a27626172277dc3653936");
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    event_stream_decoder decoder;
    std::vector<event_stream_message> out;
    ASSERT_FALSE(decoder.feed(std::string_view{wire}.substr(0, cut), out));
    EXPECT_EQ(decoder.finish(), event_stream_errc::truncated_message) << cut;
  }
}

TEST(EventStream, DecodeMessageRequiresExactLength) {
  const std::string wire = from_hex("000000100000000005c248eb7d98c8ff");
  event_stream_message m;
  EXPECT_EQ(decode_message(wire + "x", m), event_stream_errc::length_mismatch);
  EXPECT_EQ(decode_message(wire.substr(0, 15), m), event_stream_errc::length_mismatch);
  EXPECT_EQ(decode_message(wire.substr(0, 5), m), event_stream_errc::length_mismatch);
}

// A Bedrock InvokeModelWithResponseStream body: chunk events, then an exception frame.
std::vector<event_stream_message> bedrock_like_stream() {
  const auto chunk = [](std::string json) {
    return event_stream_message{{hdr(":event-type", std::string{"chunk"}),
                                 hdr(":content-type", std::string{"application/json"}),
                                 hdr(":message-type", std::string{"event"})},
                                std::move(json)};
  };
  return {chunk(R"({"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdGFydCJ9","p":"abcd"})"),
          chunk(R"({"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSJ9","p":"ab"})"),
          {{hdr(":exception-type", std::string{"throttlingException"}),
            hdr(":content-type", std::string{"application/json"}),
            hdr(":message-type", std::string{"exception"})},
           R"({"message":"Too many requests, please wait before trying again."})"},
          {{hdr(":error-code", std::string{"InternalFailure"}),
            hdr(":error-message", std::string{"An internal error occurred"}),
            hdr(":message-type", std::string{"error"})},
           ""}};
}

TEST(EventStream, ManyFramesInEveryChunking) {
  const auto messages = bedrock_like_stream();
  std::string wire;
  for (const auto& m : messages) wire += encode_message(m);
  for (const auto& chunking : test::all_chunkings(wire)) {
    SCOPED_TRACE(chunking.name);
    const auto d = decode_chunks(chunking.chunks);
    ASSERT_FALSE(d.error) << d.error.message();
    EXPECT_EQ(d.messages, messages);
  }
}

TEST(EventStream, MessageHelpers) {
  const auto messages = bedrock_like_stream();
  EXPECT_EQ(message_type_of(messages[0]), message_type::event);
  EXPECT_EQ(event_type_of(messages[0]), "chunk");
  EXPECT_EQ(exception_type_of(messages[0]), std::nullopt);
  EXPECT_EQ(messages[0].string_header(":content-type"), "application/json");

  EXPECT_EQ(message_type_of(messages[2]), message_type::exception);
  EXPECT_EQ(exception_type_of(messages[2]), "throttlingException");

  EXPECT_EQ(message_type_of(messages[3]), message_type::error);
  EXPECT_EQ(error_code_of(messages[3]), "InternalFailure");
  EXPECT_EQ(error_message_of(messages[3]), "An internal error occurred");

  EXPECT_EQ(message_type_of(event_stream_message{}), message_type::unknown);
  const event_stream_message odd{{hdr(":message-type", std::int32_t{1}), hdr(":event-type", std::string{"x"})},
                                 ""};
  EXPECT_EQ(message_type_of(odd), message_type::unknown);  // not a string header
  ASSERT_NE(odd.find(":message-type"), nullptr);
  EXPECT_EQ(odd.find("missing"), nullptr);
}

TEST(EventStream, RoundTripOfEveryTypeAtItsLimits) {
  const event_stream_message m{
      {hdr("t", true), hdr("f", false), hdr("b", std::int8_t{-128}), hdr("s", std::int16_t{-32768}),
       hdr("i", std::int32_t{-2147483647 - 1}), hdr("l", std::int64_t{-1}),
       hdr("bytes", byte_array{std::string(32767, '\xff')}), hdr("str", std::string(32767, 'z')),
       hdr("ts", timestamp{-1}), hdr("u", uuid{}), hdr("", true)},
      std::string("\0binary\xff", 8)};
  event_stream_message back;
  ASSERT_FALSE(decode_message(encode_message(m), back));
  EXPECT_EQ(back, m);
}

TEST(EventStream, EncoderRejectsOversizedFields) {
  EXPECT_THROW((void)encode_message({{hdr(std::string(256, 'n'), true)}, ""}), std::length_error);
  EXPECT_THROW((void)encode_message({{hdr("s", std::string(32768, 's'))}, ""}), std::length_error);
  EXPECT_THROW((void)encode_message({{hdr("b", byte_array{std::string(32768, 'b')})}, ""}), std::length_error);
}

TEST(EventStream, ErrorMessagesAreReadable) {
  EXPECT_EQ(make_error_code(event_stream_errc::prelude_crc_mismatch).message(), "prelude checksum mismatch");
  EXPECT_STREQ(event_stream_category().name(), "sg.aws.event_stream");
}

}  // namespace
}  // namespace sg::provider::aws
