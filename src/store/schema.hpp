// The versioned schema migrations, the SQLite and the PostgreSQL text of each side by side.
#pragma once

#include <span>

namespace sg::store {

/// One step of the schema. A database records the steps it applied in `schema_version`; at open,
/// the steps past its highest version run in order, each in the transaction that records it.
struct migration {
  int version;
  const char* description;
  const char* sqlite;
  const char* postgres;
};

/// Every migration, oldest first; versions are 1, 2, 3, … without gaps.
std::span<const migration> migrations();
/// The version a database has once every migration ran.
int latest_schema_version();
/// Throws std::runtime_error when a database's `current` version is newer than this build knows:
/// an older binary must not write to a schema it does not understand.
void refuse_newer_schema(int current);

}  // namespace sg::store
