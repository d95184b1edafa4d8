// A library that test_cuda_plugin's broken plugin depends on and that is kept out of every
// search path at run time: loading that plugin fails as it would with libcudart or cuBLASLt
// missing, and the message must name this library. It doubles as a shared library without the
// plugin's entry point.
extern "C" int pthrun_absent_dependency() { return 1; }
