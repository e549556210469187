# A module that cannot be imported: the error log must show this file's line.
def application(environ, start_response)
    return []
