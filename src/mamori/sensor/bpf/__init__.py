"""Sensor eBPF observer: the C program, its build step, its loader and its record layouts."""
