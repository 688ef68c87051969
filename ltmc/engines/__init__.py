"""Engines run the stages on inputs and hand the token rows, in input order, to the
shard writer; they move batches and transform nothing.

Each engine has ``sniff(sources)`` (for ``inputs.open_inputs``) and
``write_shards(inputs, codebook, out_dir, progress)``, which returns the documents'
manifest entries and the shards' (``shard_writer``).

    local   a pool of processes on this machine (``engines.local``)
    dask    a Dask cluster; the driver only plans (``engines.dask``)
"""
