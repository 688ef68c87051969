from ltmc.cli import main

main()
