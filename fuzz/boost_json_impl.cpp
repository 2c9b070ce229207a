// Boost.JSON compiled once for the fuzz binaries, which do not link the project's sg_boost.
#include <boost/json/src.hpp>
