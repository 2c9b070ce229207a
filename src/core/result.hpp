// The one shape of a fallible outcome in streamgate: a value, or why there is none.
//
// Work that can fail at run time returns `sg::result<T>` (an error_code in one of the project's
// categories: proto::protocol_category, auth::token_category, store::store_category, or a system
// or Asio code), or `sg::result<T, E>` where the caller needs more than a code: a parse fault
// carries the field it names and the request id to echo (proto::parse_error). Exceptions are for
// start-up (configuration, keys, opening the database) and for bugs; a handler at run time does
// not throw, and a library that throws (toml++, libpq through the store engines) is caught where
// it is called. docs/architecture.md, "Errors", has a worked example.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace sg {

template <class T, class E = boost::system::error_code>
using result = boost::system::result<T, E>;

}  // namespace sg
