"""The commands of ``python -m training``, one module each: ``add_arguments(parser)`` declares its flags
and ``run(namespace)`` calls the library that does the work. ``cli.py`` lists them."""
