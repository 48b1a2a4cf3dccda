from splitbrain.harness.cli import main

main()
