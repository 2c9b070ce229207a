// Boost.URL compiled once for the fuzz binaries, which do not link the project's sg_boost.
#include <boost/url/src.hpp>
