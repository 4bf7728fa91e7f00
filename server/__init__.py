"""vecdb_server: the gRPC servicer, the FastAPI app and ``vecdb serve`` over one Database.

>>> from vecdb_server.config import ServerConfig
>>> ServerConfig().max_k
10000
"""
