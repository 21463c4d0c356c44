"""Running slipway's action tool (//rules/private/builder) from rules."""

BUILDER_ATTRS = {
    "_builder": attr.label(
        default = "//rules/private/builder",
        executable = True,
        cfg = "exec",
    ),
}

def run_builder(ctx, verb, inputs, outputs, flags, mnemonic, progress):
    """Declares an action running one verb of the action tool, flags in a params file.

    Args:
      ctx: the rule context (its rule has BUILDER_ATTRS).
      verb: the tool's verb, e.g. "layer".
      inputs: the action's input files.
      outputs: the action's output files.
      flags: the verb's flags, as strings.
      mnemonic: the action's mnemonic.
      progress: the action's progress message.
    """
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add_all(flags)
    ctx.actions.run(
        executable = ctx.executable._builder,
        arguments = [verb, args],
        inputs = inputs,
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress,
        toolchain = None,
    )
